namespace IoTMastery.Sdk.Tests.Reliability;

/// <summary>One batch the producer had PUBACKed: its outbox sequences, when its send started and when the PUBACK was read (ms since the soak began).</summary>
internal sealed record SoakAck(long First, int Count, double SentAt, double At);

/// <summary>One SIGKILL: when it was sent, when the next broker process was started, when it listened again (ms since the soak began).</summary>
internal sealed record SoakKill(double KilledAt, double StartingAt, double RestartedAt);

/// <summary>A missing record (value and outbox sequence) with why it is missing.</summary>
internal sealed record SoakLoss(int Value, long Sequence, string Reason, int? Kill = null);

/// <summary>Who lost each missing record of the Mosquitto soak (see docs/RELIABILITY.md, "Broker faults (Mosquitto)").</summary>
internal sealed record SoakLosses(List<SoakLoss> Sdk, List<SoakLoss> Broker, List<SoakLoss> Unexplained);

/// <summary>
/// Attributes every record the consumer never received. The SDK's contract ends at the PUBACK: a record never PUBACKed
/// is the SDK's loss. A PUBACKed record that no database file of the broker held was acknowledged and then lost in a
/// SIGKILL before Mosquitto saved it (its <c>autosave_on_changes</c> window), provided a SIGKILL can have hit the broker
/// process that PUBACKed it. Anything else (saved but never delivered, or PUBACKed by the final broker, which is stopped
/// cleanly and saves everything) is unexplained. Send and PUBACK times are used only where they are certain: a send
/// that started after the last SIGKILL can only have reached the final broker. On a busy machine a thread can stall
/// between stamping a send and writing it, or between reading a PUBACK and recording it, for longer than a broker's
/// downtime, so neither time says which process acknowledged a batch; the database file says what it had saved.
/// </summary>
internal static class SoakLossClassifier
{
    /// <param name="missing">The records never received: value and outbox sequence.</param>
    /// <param name="acks">Every PUBACKed batch, in completion order.</param>
    /// <param name="kills">Every SIGKILL, in order.</param>
    /// <param name="persisted">The sequences found in the broker's database files (read while it was down after each kill, and after its final stop).</param>
    public static SoakLosses Classify(IReadOnlyList<(int Value, long Sequence)> missing, IReadOnlyList<SoakAck> acks, IReadOnlyList<SoakKill> kills,
        IReadOnlySet<long> persisted)
    {
        // Per missing sequence: how many PUBACKed batches held it, and when the last of them started (one pass over the acks).
        var held = missing.ToDictionary(m => m.Sequence, _ => (Count: 0, LastSentAt: double.NaN));
        foreach (var ack in acks)
            for (long s = ack.First; s < ack.First + ack.Count; s++)
                if (held.TryGetValue(s, out var h)) held[s] = (h.Count + 1, ack.SentAt);

        var result = new SoakLosses([], [], []);
        double lastKill = kills.Count == 0 ? double.NegativeInfinity : kills[^1].KilledAt;
        foreach (var (value, sequence) in missing)
        {
            var (count, lastSentAt) = held[sequence];
            if (count == 0)
                result.Sdk.Add(new SoakLoss(value, sequence, "never PUBACKed"));
            else if (persisted.Contains(sequence))
                result.Unexplained.Add(new SoakLoss(value, sequence, $"PUBACKed {count}× and in the broker's database file, but never delivered"));
            else if (lastSentAt >= lastKill)
                result.Unexplained.Add(new SoakLoss(value, sequence, $"PUBACKed {count}×, last by the final broker (send started {lastSentAt:0.0} ms, after the last SIGKILL)"));
            else
            {
                // For the report: the first SIGKILL after the last send holding it started; the process that PUBACKed it ended there or at a later one.
                int kill = Enumerable.Range(0, kills.Count).First(k => kills[k].KilledAt > lastSentAt);
                result.Broker.Add(new SoakLoss(value, sequence, $"PUBACKed {count}× (last send started {lastSentAt:0.0} ms), in no database file; SIGKILL {kill + 1} at {kills[kill].KilledAt:0.0} ms", kill));
            }
        }
        return result;
    }
}
