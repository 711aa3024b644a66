using Microsoft.Extensions.Options;

namespace IoTMastery.Sdk.Cli;

/// <summary>
/// The tool's exit codes, documented in README.md. Every failure is mapped here and nowhere else, so a script can branch
/// on the code whatever the provider.
/// </summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>Bad command line, bad input or bad configuration; nothing was sent.</summary>
    public const int Usage = 1;
    public const int NotFound = 2;
    /// <summary>Already exists, or a version/ETag precondition failed.</summary>
    public const int Conflict = 3;
    /// <summary>The provider refused the tool's credentials or permissions.</summary>
    public const int Auth = 4;
    /// <summary>Worth retrying later: throttled, device offline, command timed out, peer unreachable.</summary>
    public const int Transient = 5;
    /// <summary>A quota (not a rate) is exhausted.</summary>
    public const int Quota = 6;
    /// <summary>The device answered the command with a non-2xx status, or a watched rollout ended without completing.</summary>
    public const int Unsuccessful = 7;
    /// <summary><c>firmware compliance --fail-on-affected</c>: a device runs an affected version or one below the minimum.</summary>
    public const int NonCompliant = 8;
    /// <summary>Any other provider error.</summary>
    public const int ProviderError = 10;
    /// <summary>Interrupted (Ctrl+C), as shells report SIGINT.</summary>
    public const int Interrupted = 130;

    public static int For(Exception error) => Unwrap(error) switch
    {
        OperationCanceledException => Interrupted,
        ArgumentException or OptionsValidationException or FormatException or System.Text.Json.JsonException => Usage,
        IoTException { Kind: IoTErrorKind.NotFound or IoTErrorKind.DeviceNotFound } => NotFound,
        IoTException { Kind: IoTErrorKind.AlreadyExists or IoTErrorKind.PreconditionFailed } => Conflict,
        IoTException { Kind: IoTErrorKind.Authentication or IoTErrorKind.Authorization } => Auth,
        IoTException { Kind: IoTErrorKind.PayloadTooLarge } => Usage,
        IoTException { Kind: IoTErrorKind.QuotaExceeded } => Quota,
        IoTException { IsTransient: true } or IoTException { Kind: IoTErrorKind.CommandTimeout or IoTErrorKind.DeviceOffline } => Transient,
        HttpRequestException or System.Net.Sockets.SocketException or TimeoutException or IOException => Transient,
        IoTException => ProviderError,
        CliUsageException => Usage,
        _ => ProviderError,
    };

    /// <summary>A provider that failed to start is reported by the DI registry as InvalidOperationException around the cause.</summary>
    public static Exception Unwrap(Exception error)
    {
        while (error is InvalidOperationException or AggregateException && error.InnerException is { } inner) error = inner;
        return error;
    }
}

/// <summary>A usage error found by the tool itself (a missing configuration section, an option that needs another).</summary>
internal sealed class CliUsageException(string message) : Exception(message);
