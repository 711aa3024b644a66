using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Tests.Errors;

/// <summary>
/// Issue #14: one exception type whose kind says what failed. A third-party provider builds it with the one public
/// constructor; log lines name the kind and the provider's code, escaped, never the message.
/// </summary>
public sealed class IoTErrorKindTests
{
    [Fact]
    public void A_third_party_provider_builds_an_error_of_any_kind_with_the_public_constructor()
    {
        var error = new IoTException(IoTErrorKind.Throttled, "slow down", "Acme", "Busy", isTransient: true, TimeSpan.FromSeconds(3))
        {
            DeviceId = "dev-1",
            HttpStatus = 429,
        };

        Assert.Equal((IoTErrorKind.Throttled, "Acme", "Busy", true, TimeSpan.FromSeconds(3)),
            (error.Kind, error.Provider, error.ErrorCode, error.IsTransient, error.RetryAfter));
        Assert.Equal(("dev-1", 429, (long?)null), (error.DeviceId, error.HttpStatus, error.CurrentVersion));
    }

    [Fact]
    public void The_documented_catch_idiom_picks_the_kind()
    {
        string? caught = null;
        try
        {
            throw IoTException.DeviceNotFound("dev-9", "Local");
        }
        catch (IoTException e) when (e.Kind == IoTErrorKind.DeviceNotFound)
        {
            caught = e.DeviceId;
        }
        Assert.Equal("dev-9", caught);
    }

    [Fact]
    public void Log_names_carry_the_kind_and_the_escaped_code_and_never_the_message()
    {
        var withCode = new IoTException(IoTErrorKind.NotFound, "secret-ish text", "Aws", "Resource\nNotFound");
        var withoutCode = new IoTException(IoTErrorKind.Authentication, "secret-ish text", "Local");

        Assert.Equal(@"NotFound (Resource\nNotFound)", ErrorText.Name(withCode));
        Assert.Equal("Authentication", ErrorText.Name(withoutCode));
        Assert.Equal("TimeoutException", ErrorText.Name(new TimeoutException("peer said x")));
    }

    [Fact]
    public void A_precondition_failure_keeps_the_current_version_and_the_ids_of_the_answer_it_wraps()
    {
        var answer = new IoTException(IoTErrorKind.PreconditionFailed, "412", "Azure", "412001").WithResponse("req-1", 412);
        var error = IoTException.PreconditionFailed("stale", "Azure", "412001", currentVersion: 7, innerException: answer);

        var same = IoTAssert.Is(IoTErrorKind.PreconditionFailed, error);
        Assert.Equal((7L, "req-1", 412), (same.CurrentVersion!.Value, same.RequestId, same.HttpStatus!.Value));
    }

    [Fact]
    public void Telemetry_backpressure_errors_have_their_own_kinds_and_are_not_transient()
    {
        var outbox = IoTException.OutboxFull(8192);
        var queue = IoTException.QueueFull("The pipeline fails fast: " + outbox.Message, outbox);

        Assert.Equal((IoTErrorKind.OutboxFull, false), (outbox.Kind, outbox.IsTransient));
        Assert.Equal((IoTErrorKind.QueueFull, false), (queue.Kind, queue.IsTransient));
        Assert.Contains("(8192 bytes)", queue.Message, StringComparison.Ordinal);
    }
}
