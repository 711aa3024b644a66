using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Providers;
using IoTMastery.Sdk.TestSupport;
using Microsoft.Extensions.Time.Testing;

namespace IoTMastery.Sdk.Tests.Firmware;

/// <summary>
/// The rollout handle on the shared engine when nothing signals the engine (a cloud provider learns of device reports only
/// when the rollout is read): the wait reads again on the provider's clock, and a mocking subclass can stand in for it.
/// </summary>
public sealed class RolloutOperationTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly TempFirmwareStore _file = new();
    private readonly FakeTimeProvider _time = new(Start);
    private readonly ReportsInMemory _delivery = new();
    private readonly SqliteFirmwareStore _store;
    private readonly FirmwareEngine _engine;

    public RolloutOperationTests()
    {
        _store = new SqliteFirmwareStore(_file.Path);
        // Nothing tells this engine that a report changed: it sees reports only when a rollout is read.
        _engine = new FirmwareEngine(_store, _delivery, "Local", _time);
        _delivery.Reports["d0"] = new ReportedFirmware { Version = "1.0.0" };
    }

    public void Dispose()
    {
        _engine.Dispose();
        _store.Dispose();
        _file.Dispose();
    }

    private static FirmwareRelease Release(string version) => FirmwareTestReleases.Release(version);

    [Fact]
    public async Task Without_a_signal_the_wait_reads_again_each_poll_interval_of_the_provider_clock_and_returns_the_ended_rollout()
    {
        await _engine.CreateReleaseAsync(Release("1.0.0"));
        await _engine.CreateReleaseAsync(Release("2.0.0"));
        var operation = await _engine.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "2.0.0", DeviceIds = ["d0"] });
        Assert.False(operation.HasCompleted);

        var seen = new ConcurrentQueue<Rollout>();
        using var cts = new CancellationTokenSource(Bound);
        var poll = TimeSpan.FromSeconds(5);
        var collect = new Collect(seen);
        var wait = operation.WaitForCompletionAsync(poll, collect, cts.Token);
        // After the wait's first read (still in progress), the device succeeds where only a read can see it: no evaluation
        // of this engine runs, so nothing signals.
        Assert.Equal(RolloutStatus.InProgress, (await collect.First.Task.WaitAsync(Bound)).Status);
        _delivery.Reports["d0"] = new ReportedFirmware { Version = "2.0.0", TargetVersion = "2.0.0", Status = FirmwareUpdateStatus.Succeeded, RolloutId = operation.Id };

        // Only the fake clock can wake the wait. The timer may be armed after an advance, so advance again until it fires;
        // each step is one poll interval, so the wait reads at most one interval after the timer is armed.
        while (!wait.IsCompleted && !cts.IsCancellationRequested)
        {
            _time.Advance(poll);
            await Task.WhenAny(wait, Task.Delay(TimeSpan.FromMilliseconds(20), TimeProvider.System));
        }
        var done = await wait;

        Assert.Equal(RolloutStatus.Completed, done.Status);
        Assert.Equal(DeviceRolloutStatus.Succeeded, Assert.Single(done.Devices).Status);
        Assert.True(operation.HasCompleted);
        Assert.Same(done, operation.Value);
        // Two states reported: the first read, in progress, and the end.
        Assert.Equal([RolloutStatus.InProgress, RolloutStatus.Completed], seen.Select(r => r.Status));
        Assert.Same(done, seen.Last());
        Assert.True(_time.GetUtcNow() - Start >= poll, "the wait ended without the clock reaching one poll interval");
    }

    [Fact]
    public async Task Resume_reattaches_by_id_and_bad_arguments_fail_before_any_read()
    {
        await _engine.CreateReleaseAsync(Release("2.0.0"));
        var started = await _engine.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "2.0.0", DeviceIds = ["d0"] });
        await _engine.CancelRolloutAsync(started.Id);

        var resumed = await RolloutOperation.ResumeAsync(_engine, started.Id);
        Assert.Equal(started.Id, resumed.Id);
        Assert.True(resumed.HasCompleted);
        // An ended rollout returns at once, on the first read, whatever the clock does.
        Assert.Equal(RolloutStatus.Cancelled, (await resumed.WaitForCompletionAsync().WaitAsync(Bound)).Status);

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => resumed.WaitForCompletionAsync(TimeSpan.Zero, null));
        await Assert.ThrowsAsync<ArgumentException>(() => RolloutOperation.ResumeAsync(_engine, "bad id!"));
        await IoTAssert.ThrowsAsync(IoTErrorKind.NotFound, () => RolloutOperation.ResumeAsync(_engine, "ro-missing"));
    }

    [Fact]
    public async Task A_subclass_without_a_mocking_library_can_stand_in_for_the_handle()
    {
        var ended = new Rollout { Id = "ro-test", Plan = new RolloutPlan { ReleaseVersion = "2.0.0", DeviceIds = ["d0"] }, Status = RolloutStatus.Completed };
        RolloutOperation operation = new EndedOperation(ended);

        Assert.Equal("ro-test", operation.Id);
        Assert.True(operation.HasCompleted);
        Assert.Same(ended, await operation.WaitForCompletionAsync());
    }

    /// <summary>What a user's test writes: the protected constructor and the virtual members.</summary>
    private sealed class EndedOperation(Rollout ended) : RolloutOperation
    {
        public override string Id => ended.Id;

        public override Rollout Value => ended;

        public override bool HasCompleted => true;

        public override Task<Rollout> WaitForCompletionAsync(TimeSpan pollInterval, IProgress<Rollout>? progress, CancellationToken cancellationToken = default) =>
            Task.FromResult(ended);
    }

    private sealed class Collect(ConcurrentQueue<Rollout> seen) : IProgress<Rollout>
    {
        public TaskCompletionSource<Rollout> First { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Report(Rollout value)
        {
            seen.Enqueue(value);
            First.TrySetResult(value);
        }
    }

    /// <summary>Device reports a test sets directly; desired writes are kept. Nothing here tells the engine a report changed.</summary>
    private sealed class ReportsInMemory : IFirmwareDelivery
    {
        public ConcurrentDictionary<string, ReportedFirmware> Reports { get; } = new(StringComparer.Ordinal);

        public ConcurrentDictionary<string, JsonObject> Desired { get; } = new(StringComparer.Ordinal);

        public DeviceIdRules DeviceIdRules => DeviceIdRules.Local;

        public Task<ReportedFirmware?> ReadReportedAsync(string deviceId, CancellationToken cancellationToken = default) =>
            Task.FromResult(Reports.TryGetValue(deviceId, out var report) ? report : null);

        public Task WriteDesiredAsync(string deviceId, JsonObject firmware, CancellationToken cancellationToken = default)
        {
            Desired[deviceId] = firmware;
            return Task.CompletedTask;
        }
    }
}
