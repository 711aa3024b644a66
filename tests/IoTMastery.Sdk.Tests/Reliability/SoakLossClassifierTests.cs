namespace IoTMastery.Sdk.Tests.Reliability;

/// <summary>
/// The Mosquitto soak's attribution of missing records, on the timelines a busy 2-core machine produces (issue #11):
/// what the broker PUBACKed versus what its database file held decides, not when a send started.
/// </summary>
public sealed class SoakLossClassifierTests
{
    // Broker process 0 runs until the SIGKILL at 1,000 ms; process 1 from 1,100 ms until the SIGKILL at 2,000 ms; process 2 from 2,100 ms to the end.
    private static readonly SoakKill[] Kills = [new(1_000, 1_100, 1_150), new(2_000, 2_100, 2_150)];

    private static (int, long)[] Records(long first, int count) => [.. Enumerable.Range(0, count).Select(i => ((int)(first - 1 + i), first + i))];

    [Fact]
    public void A_send_stamped_while_the_broker_was_down_but_acknowledged_by_the_next_one_does_not_hide_the_killed_brokers_loss()
    {
        // Process 0 PUBACKed 1-10 just before its SIGKILL and never saved it. The send of 11-20 was stamped at 1,050 ms,
        // while no broker ran; its thread was preempted, and the publish went out to process 1 once it had restarted.
        SoakAck[] acks = [new(1, 10, SentAt: 900, At: 905), new(11, 10, SentAt: 1_050, At: 1_300)];

        var losses = SoakLossClassifier.Classify(Records(1, 10), acks, Kills, persisted: new HashSet<long>(Enumerable.Range(11, 10).Select(i => (long)i)));

        Assert.Empty(losses.Sdk);
        Assert.Empty(losses.Unexplained);
        Assert.Equal(10, losses.Broker.Count);
        Assert.All(losses.Broker, loss => Assert.Equal(0, loss.Kill));
    }

    [Fact]
    public void Two_batches_acknowledged_after_the_last_save_are_both_the_brokers_loss()
    {
        // On a loaded machine the kill landed after process 0 had PUBACKed two batches its database file does not hold.
        SoakAck[] acks = [new(1, 10, SentAt: 980, At: 985), new(11, 10, SentAt: 986, At: 990)];

        var losses = SoakLossClassifier.Classify(Records(1, 20), acks, Kills, persisted: new HashSet<long>());

        Assert.Empty(losses.Sdk);
        Assert.Empty(losses.Unexplained);
        Assert.Equal(20, losses.Broker.Count);
    }

    [Fact]
    public void A_record_never_acknowledged_is_the_sdks_loss()
    {
        SoakAck[] acks = [new(1, 10, SentAt: 900, At: 905)];

        var losses = SoakLossClassifier.Classify(Records(11, 5), acks, Kills, persisted: new HashSet<long>());

        Assert.Equal(5, losses.Sdk.Count);
        Assert.Empty(losses.Broker);
        Assert.Empty(losses.Unexplained);
    }

    [Fact]
    public void A_record_the_broker_had_saved_but_never_delivered_is_unexplained()
    {
        SoakAck[] acks = [new(1, 10, SentAt: 900, At: 905)];

        var losses = SoakLossClassifier.Classify(Records(1, 10), acks, Kills, persisted: new HashSet<long>([5]));

        Assert.Single(losses.Unexplained);
        Assert.Equal(5, losses.Unexplained[0].Sequence);
        Assert.Equal(9, losses.Broker.Count);
    }

    [Fact]
    public void A_record_only_the_final_broker_can_have_acknowledged_is_unexplained()
    {
        // Sent after the last SIGKILL: the broker that PUBACKed it was never killed, so no unsaved window explains its loss.
        SoakAck[] acks = [new(1, 10, SentAt: 2_050, At: 2_300)];

        var losses = SoakLossClassifier.Classify(Records(1, 10), acks, Kills, persisted: new HashSet<long>());

        Assert.Equal(10, losses.Unexplained.Count);
        Assert.Empty(losses.Broker);
    }
}
