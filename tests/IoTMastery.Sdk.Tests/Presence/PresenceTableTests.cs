using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;

namespace IoTMastery.Sdk.Tests.Presence;

public sealed class PresenceTableTests(ITestOutputHelper output)
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Versioned_events_out_of_order_or_duplicated_do_not_flip_the_answer_back()
    {
        // AWS delivers lifecycle events at least once and unordered; versionNumber is the order to trust.
        var table = new PresenceTable(new FakeTimeProvider(Start));
        Assert.True(table.Observe("d1", connected: false, Start.AddSeconds(5), "CONNECTION_LOST", version: 2));
        Assert.False(table.Observe("d1", connected: true, Start, version: 1));
        Assert.False(table.Observe("d1", connected: false, Start.AddSeconds(5), "CONNECTION_LOST", version: 2));
        var p = table.Get("d1", unknown: null, staleness: null);
        Assert.Equal((false, Start.AddSeconds(5), "CONNECTION_LOST"), (p.Connected, p.Since, p.DisconnectReason));
    }

    [Fact]
    public void Sequence_numbered_events_are_ordered_as_numbers_of_hex_digits_and_duplicates_ignored()
    {
        // IoT Hub's connection-state sequenceNumber: hex digits of one width; a longer string is a larger number.
        var table = new PresenceTable(new FakeTimeProvider(Start));
        Assert.True(table.Observe("d1", connected: true, Start, sequence: "00000000000000A0"));
        Assert.False(table.Observe("d1", connected: true, Start, sequence: "00000000000000a0"));           // redelivered (case aside)
        Assert.False(table.Observe("d1", connected: false, Start.AddSeconds(1), sequence: "000000000000009F")); // older, late
        Assert.True(table.Observe("d1", connected: false, Start.AddSeconds(2), sequence: "00000000000000A1"));
        Assert.True(table.Observe("d1", connected: true, Start.AddSeconds(3), sequence: "100000000000000000"));  // wider: larger
        var p = table.Get("d1", unknown: null, staleness: null);
        Assert.Equal((true, Start.AddSeconds(3)), (p.Connected, p.Since));
    }

    [Fact]
    public void Activity_never_moves_backwards_and_unknown_devices_say_so()
    {
        var table = new PresenceTable(new FakeTimeProvider(Start));
        table.Activity("d1", Start.AddSeconds(10));
        table.Activity("d1", Start.AddSeconds(3));
        Assert.Equal(Start.AddSeconds(10), table.Get("d1", null, null).LastActivity);
        Assert.Null(table.Get("nobody", unknown: null, staleness: null).Connected);
        Assert.False(table.Get("nobody", unknown: false, staleness: TimeSpan.Zero).Connected);
    }

    [Fact]
    public async Task A_full_reader_loses_events_counted_never_blocking_the_writer()
    {
        var table = new PresenceTable(new FakeTimeProvider(Start), readerCapacity: 2);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var reader = table.ReadAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        var first = reader.MoveNextAsync().AsTask(); // subscribes
        for (var i = 0; i < 5; i++) table.Observe("d" + i, connected: true);
        Assert.True(await first);
        // An event is the device's presence as of the change.
        Assert.Equal(("d0", (bool?)true, (DateTimeOffset?)Start, (DateTimeOffset?)Start, (string?)null),
            (reader.Current.DeviceId, reader.Current.Connected, reader.Current.Since, reader.Current.LastActivity, reader.Current.DisconnectReason));
        Assert.True(table.DroppedEventCount >= 2);
    }

    [Fact]
    public void Presence_of_ten_thousand_devices_is_held_in_well_under_50_MB()
    {
        // Allocated bytes bound what is retained from above; the ids are the caller's and not counted.
        var ids = Enumerable.Range(0, 10_000).Select(i => $"device-{i:D5}").ToArray();
        var table = new PresenceTable(new FakeTimeProvider(Start));
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < ids.Length; i++)
        {
            table.Observe(ids[i], connected: true, Start, version: 1);
            table.Activity(ids[i], Start.AddSeconds(1));
        }
        var bytes = GC.GetAllocatedBytesForCurrentThread() - before;
        output.WriteLine($"10,000 devices: {bytes / 1024.0 / 1024.0:F2} MiB allocated ({bytes / ids.Length} B per device)");
        Assert.Equal(10_000, table.Count);
        Assert.True(bytes < 50L * 1024 * 1024, $"{bytes} bytes");
    }
}
