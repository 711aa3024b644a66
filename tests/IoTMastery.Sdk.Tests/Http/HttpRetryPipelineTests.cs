using IoTMastery.Sdk.Http;
using IoTMastery.Sdk.TestSupport;
using Microsoft.Extensions.Time.Testing;

namespace IoTMastery.Sdk.Tests.Http;

/// <summary>
/// The one HTTP retry the cloud providers share: bounded attempts, the provider's per-request classification decides,
/// Retry-After wins over backoff, and every retry is counted on the SDK meter under the provider's tag. The providers'
/// fault tests run the same pipeline against real services through a fault proxy; these pin the rules exactly.
/// </summary>
public sealed class HttpRetryPipelineTests
{
    // A provider tag no other test uses, so the counts are exact even with tests running in parallel.
    private readonly string _provider = "test-" + Guid.NewGuid().ToString("N")[..8];

    // Named on the attempt spans only; these tests send nothing.
    private static readonly Uri Server = new("https://service.invalid/");

    private static IoTException Transient(string code = "Unavailable", TimeSpan? retryAfter = null) =>
        new(IoTErrorKind.Unknown, $"service said {code}", "test", code, isTransient: true, retryAfter: retryAfter);

    [Fact]
    public async Task Each_retry_is_counted_once_under_the_provider_tag()
    {
        using var retries = new HttpRetryCounter();
        var pipeline = new HttpRetryPipeline(_provider, new HttpRetryBounds(3, TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(5)), TimeProvider.System);
        var attempts = 0;
        var result = await pipeline.ExecuteAsync((_, _) => ++attempts < 3 ? throw Transient() : ValueTask.FromResult("ok"), 0, static ex => ex.IsTransient, HttpMethod.Get, Server, default);
        Assert.Equal("ok", result);
        Assert.Equal(3, attempts);
        Assert.Equal(2, retries.For(_provider));
    }

    [Fact]
    public async Task A_failure_the_provider_will_not_replay_is_sent_once_and_thrown_as_is()
    {
        using var retries = new HttpRetryCounter();
        var pipeline = new HttpRetryPipeline(_provider, new HttpRetryBounds(3, TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(5)), TimeProvider.System);
        var lost = Transient("ConnectionFailed");
        var attempts = 0;
        // A transient error after the request may have reached the service: a non-idempotent call says no.
        var thrown = await Assert.ThrowsAsync<IoTException>(async () =>
            await pipeline.ExecuteAsync<int, int>((_, _) => { attempts++; throw lost; }, 0, static _ => false, HttpMethod.Get, Server, default));
        Assert.Same(lost, thrown);
        Assert.Equal(1, attempts);
        Assert.Equal(0, retries.For(_provider));
    }

    [Fact]
    public async Task Attempts_are_bounded_and_the_last_typed_error_is_thrown()
    {
        using var retries = new HttpRetryCounter();
        var pipeline = new HttpRetryPipeline(_provider, new HttpRetryBounds(2, TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(5)), TimeProvider.System);
        var errors = new List<IoTException>();
        var thrown = await IoTAssert.ThrowsAsync(IoTErrorKind.Throttled, async () => await pipeline.ExecuteAsync<int, int>((_, _) =>
        {
            var error = IoTException.Throttled("slow down", "test", "Throttling", null);
            errors.Add(error);
            throw error;
        }, 0, static ex => ex.IsTransient, HttpMethod.Get, Server, default));
        Assert.Equal(3, errors.Count);
        Assert.Same(errors[^1], thrown);
        Assert.Equal(2, retries.For(_provider));
    }

    [Fact]
    public async Task No_retries_means_one_attempt()
    {
        var pipeline = new HttpRetryPipeline(_provider, new HttpRetryBounds(0, TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(5)), TimeProvider.System);
        var attempts = 0;
        await Assert.ThrowsAsync<IoTException>(async () => await pipeline.ExecuteAsync<int, int>((_, _) => { attempts++; throw Transient(); }, 0, static _ => true, HttpMethod.Get, Server, default));
        Assert.Equal(1, attempts);
    }

    [Fact]
    public async Task The_services_Retry_After_wins_over_a_shorter_backoff()
    {
        var time = new FakeTimeProvider();
        var pipeline = new HttpRetryPipeline(_provider, new HttpRetryBounds(1, TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(60)), time);
        var start = time.GetUtcNow();
        DateTimeOffset? second = null;
        var attempts = 0;
        var call = pipeline.ExecuteAsync((_, _) =>
        {
            if (++attempts == 1) throw Transient("429", TimeSpan.FromSeconds(30));
            second = time.GetUtcNow();
            return ValueTask.FromResult(1);
        }, 0, static ex => ex.IsTransient, HttpMethod.Get, Server, default).AsTask();
        // Step the fake clock a second at a time; a wait shorter than Retry-After would run the second attempt early.
        for (var step = 0; step < 120 && !call.IsCompleted; step++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(5);
        }
        Assert.Equal(1, await call.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.NotNull(second);
        Assert.True(second.Value - start >= TimeSpan.FromSeconds(30), $"second attempt after {second.Value - start}");
    }

    [Fact]
    public async Task A_fixed_schedule_is_used_without_jitter()
    {
        var time = new FakeTimeProvider();
        var bounds = new HttpRetryBounds(2, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60)) { Backoff = attempt => TimeSpan.FromSeconds(10 * (attempt + 1)) };
        var pipeline = new HttpRetryPipeline(_provider, bounds, time);
        var start = time.GetUtcNow();
        var at = new List<TimeSpan>();
        var call = pipeline.ExecuteAsync((_, _) =>
        {
            at.Add(time.GetUtcNow() - start);
            return at.Count < 3 ? throw Transient() : ValueTask.FromResult(1);
        }, 0, static ex => ex.IsTransient, HttpMethod.Get, Server, default).AsTask();
        for (var step = 0; step < 120 && !call.IsCompleted; step++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(5);
        }
        await call.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(3, at.Count);
        // 10 s, then 20 s more: never earlier (a busy machine can only make the steps land later).
        Assert.True(at[1] >= TimeSpan.FromSeconds(10), $"first retry after {at[1]}");
        Assert.True(at[2] - at[1] >= TimeSpan.FromSeconds(20), $"second retry {at[2] - at[1]} after the first");
    }

    [Theory]
    [InlineData(86_400, 60, null)]    // a day against a 60 s MaxDelay
    [InlineData(61, 60, null)]        // just past MaxDelay
    [InlineData(30, 60, 20)]          // within MaxDelay, but past the call's whole deadline
    public async Task A_Retry_After_past_the_bound_is_not_waited_out_but_thrown_at_once(int retryAfterSeconds, int maxDelaySeconds, int? deadlineSeconds)
    {
        using var retries = new HttpRetryCounter();
        // The fake clock never moves: a call that waits for the Retry-After would never finish.
        var time = new FakeTimeProvider();
        var bounds = new HttpRetryBounds(3, TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(maxDelaySeconds))
        {
            Deadline = deadlineSeconds is { } d ? TimeSpan.FromSeconds(d) : null,
        };
        var pipeline = new HttpRetryPipeline(_provider, bounds, time);
        var throttled = IoTException.Throttled("slow down", "test", "Throttling", TimeSpan.FromSeconds(retryAfterSeconds));
        var attempts = 0;
        var call = pipeline.ExecuteAsync<int, int>((_, _) => { attempts++; throw throttled; }, 0, static ex => ex.IsTransient, HttpMethod.Get, Server, default).AsTask();
        // Bounded by real time only so that today's behaviour (sleeping on the fake clock) fails instead of hanging.
        var thrown = await IoTAssert.ThrowsAsync(IoTErrorKind.Throttled, () => call.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Same(throttled, thrown);
        Assert.True(thrown.IsTransient);
        Assert.Equal(TimeSpan.FromSeconds(retryAfterSeconds), thrown.RetryAfter);
        Assert.Equal(1, attempts);
        Assert.Equal(0, retries.For(_provider));
    }

    [Fact]
    public async Task A_Retry_After_past_the_deadline_left_after_earlier_attempts_is_thrown_at_once()
    {
        var time = new FakeTimeProvider();
        var bounds = new HttpRetryBounds(3, TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(60)) { Deadline = TimeSpan.FromSeconds(20) };
        var pipeline = new HttpRetryPipeline(_provider, bounds, time);
        var attempts = 0;
        var call = pipeline.ExecuteAsync<int, int>((_, _) =>
        {
            // The first answer asks for 12 s (fits 20 s); the second asks for 12 s again, when only 8 s are left.
            attempts++;
            throw Transient("429", TimeSpan.FromSeconds(12));
        }, 0, static ex => ex.IsTransient, HttpMethod.Get, Server, default).AsTask();
        for (var step = 0; step < 60 && attempts < 2; step++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(5);
        }
        var thrown = await Assert.ThrowsAsync<IoTException>(() => call.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal("429", thrown.ErrorCode);
        Assert.Equal(TimeSpan.FromSeconds(12), thrown.RetryAfter);
        Assert.Equal(2, attempts);
    }
}
