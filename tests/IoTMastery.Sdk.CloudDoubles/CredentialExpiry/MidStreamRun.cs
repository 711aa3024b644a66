namespace IoTMastery.Sdk.CloudDoubles.CredentialExpiry;

/// <summary>The figures of one stream run across credential renewals, in real time (peer-clock spans divided by its speed-up).</summary>
public sealed record MidStreamFigures(
    int Written, int Received, int Distinct, int Lost, int Duplicates, int Renewals, int Refusals, int Cuts,
    TimeSpan? MinRenewalBeforeExpiry, TimeSpan? MaxStallAroundReconnect, IReadOnlyList<string> Problems)
{
    /// <summary>One line for the test log.</summary>
    public override string ToString() =>
        $"records written {Written}, received {Received} (distinct {Distinct}), lost {Lost}, duplicates {Duplicates}, renewals {Renewals}, " +
        $"refused CONNECTs {Refusals}, sessions cut at expiry {Cuts}, min gap renewal→expiry {Ms(MinRenewalBeforeExpiry)}, " +
        $"max delivery stall around a reconnect {Ms(MaxStallAroundReconnect)}";

    private static string Ms(TimeSpan? t) => t is { } v ? $"{v.TotalMilliseconds:0} ms" : "n/a";
}

/// <summary>Drives a continuous telemetry stream and judges what the peer received against what was written.</summary>
public static class MidStreamRun
{
    /// <summary>
    /// Writes records with values 1, 2, 3… (the value is the record's identity), <paramref name="perTick"/> every
    /// <paramref name="tick"/>, until <paramref name="done"/> says so; fails when <paramref name="deadline"/> passes first.
    /// </summary>
    public static async Task<int> StreamAsync(string deviceId, Func<TelemetryRecord, ValueTask> write, Func<int, bool> done, TimeSpan deadline,
        int perTick = 40, TimeSpan? tick = null)
    {
        var started = TimeProvider.System.GetTimestamp();
        var written = 0;
        while (!done(written))
        {
            if (TimeProvider.System.GetElapsedTime(started) > deadline)
                throw new TimeoutException($"The stream did not reach its goal within {deadline.TotalSeconds:0} s ({written} records written).");
            for (var i = 0; i < perTick; i++)
            {
                written++;
                await write(new TelemetryRecord(deviceId, "temp", written, DateTimeOffset.UtcNow)).ConfigureAwait(false);
            }
            // Pacing only: the stream must span several credential lifetimes, not finish in one.
            await Task.Delay(tick ?? TimeSpan.FromMilliseconds(40)).ConfigureAwait(false);
        }
        return written;
    }

    /// <summary>
    /// Decodes every message the peer received and compares with 1..<paramref name="written"/>. The dedup key is the
    /// outbox sequence (<c>"s"</c>) when <paramref name="bySequence"/>, otherwise the value. <paramref name="peerSpeedUp"/>
    /// converts peer-clock spans to real time.
    /// </summary>
    public static MidStreamFigures Judge(int written, bool bySequence, IEnumerable<(DateTimeOffset At, byte[] Payload)> arrivals,
        string clientId, SessionExpiryEnforcer sessions, double peerSpeedUp = 1)
    {
        var problems = new List<string>();
        var ordered = arrivals.OrderBy(a => a.At).ToList();
        var records = ordered.SelectMany(a => TelemetryJson.ReadBatch(a.Payload)).ToList();
        var values = records.Select(r => (long)r.Value).ToList();
        int distinct;
        if (bySequence)
        {
            if (records.Any(r => r.Sequence is null)) problems.Add("a record arrived without its sequence number");
            var bySeq = records.Where(r => r.Sequence is not null).GroupBy(r => r.Sequence!.Value).ToList();
            if (bySeq.Any(g => g.Select(r => r.Value).Distinct().Count() != 1)) problems.Add("one sequence number carried two different records");
            distinct = bySeq.Count;
        }
        else
        {
            distinct = values.Distinct().Count();
        }
        var seen = values.ToHashSet();
        var lost = Enumerable.Range(1, written).Count(v => !seen.Contains(v));
        if (values.Any(v => v < 1 || v > written)) problems.Add("a record arrived that was never written");

        var connects = sessions.Connects.Where(c => c.ClientId == clientId).ToList();
        var accepted = connects.Where(c => c.Accepted).ToList();
        TimeSpan? minGap = null;
        TimeSpan? maxStall = null;
        for (var k = 1; k < accepted.Count; k++)
        {
            var gap = (accepted[k - 1].ExpiresAt!.Value - accepted[k].At) / peerSpeedUp;
            minGap = minGap is { } g && g < gap ? g : gap;
            var before = ordered.LastOrDefault(a => a.At <= accepted[k].At);
            var after = ordered.FirstOrDefault(a => a.At > accepted[k].At);
            if (before.Payload is not null && after.Payload is not null)
            {
                var stall = (after.At - before.At) / peerSpeedUp;
                maxStall = maxStall is { } s && s > stall ? s : stall;
            }
        }
        return new MidStreamFigures(written, records.Count, distinct, lost, records.Count - distinct, Math.Max(0, accepted.Count - 1),
            connects.Count(c => !c.Accepted), sessions.Cuts.Count(c => c.ClientId == clientId), minGap, maxStall, problems);
    }
}
