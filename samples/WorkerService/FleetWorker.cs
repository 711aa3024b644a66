using System.Collections.Concurrent;
using IoTMastery.Sdk;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace WorkerService;

/// <summary>The worker's settings (section <c>Worker</c>).</summary>
public sealed class WorkerOptions
{
    /// <summary>Telemetry readings each provider's device sends.</summary>
    public int ReadingsPerDevice { get; set; } = 5;

    /// <summary>Stop the host when the work is done (a sample run); false keeps the host up until Ctrl+C.</summary>
    public bool StopWhenDone { get; set; } = true;

    /// <summary>
    /// Keep doing round trips for this many seconds (measured on the host's <see cref="TimeProvider"/>), then stop; 0 (the
    /// default) does one round trip per provider. Set from the command line with <c>--seconds N</c>.
    /// </summary>
    public int Seconds { get; set; }

    /// <summary>
    /// The device key algorithm per provider name (<c>Worker:KeyAlgorithms:eu</c> = <c>Rsa2048</c>); a provider not listed
    /// gets the SDK's default, ECDSA P-256.
    /// </summary>
    public Dictionary<string, KeyAlgorithm> KeyAlgorithms { get; set; } = [];

    /// <summary>How long one provider's round trip may take before the worker gives up.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(60);
}

/// <summary>What the worker did on one provider.</summary>
public sealed record ProviderRun(string Provider, string Kind, string DeviceId, int Sent, int Received, double Sum);

/// <summary>What the worker did on each provider, for the log and for tests.</summary>
public sealed class WorkerReport
{
    /// <summary>One entry per provider that completed its round trip.</summary>
    public ConcurrentQueue<ProviderRun> Runs { get; } = new();

    /// <summary>The worker ended with an error.</summary>
    public bool Failed { get; set; }
}

/// <summary>
/// On every configured provider: register a device, connect it, send telemetry, read the same telemetry back from the
/// fleet side where the provider can (<see cref="ProviderCapabilities.TelemetryConsumption"/>), log it, and delete the device. Providers come from <see cref="IIoTProviderFactory"/>, which the SDK's hosted
/// service fills when the host starts.
/// </summary>
public sealed partial class FleetWorker(
    IIoTProviderFactory providers, IOptions<WorkerOptions> options, WorkerReport report, IHostApplicationLifetime lifetime,
    TimeProvider time, SampleSetup setup, ILogger<FleetWorker> logger) : BackgroundService
{
    private readonly WorkerOptions _options = options.Value;

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            if (_options.Seconds < 0)
                throw new ArgumentOutOfRangeException(nameof(WorkerOptions.Seconds), _options.Seconds, "Worker:Seconds (--seconds) must be 0 or more.");
            foreach (var skipped in setup.Skipped) LogSkipped(logger, skipped);
            var until = time.GetUtcNow().AddSeconds(_options.Seconds);
            var round = 0;
            do
            {
                // The providers run side by side in one process; each round trip is independent.
                var current = round++;
                await Task.WhenAll(providers.Names.Select(name => RunAsync(name, current, stoppingToken)));
            }
            while (time.GetUtcNow() < until && !stoppingToken.IsCancellationRequested);
            LogDone(logger, report.Runs.Count, round);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Ctrl+C.
        }
        catch (Exception e)
        {
            report.Failed = true;
            LogFailed(logger, e);
        }
        finally
        {
            if (_options.StopWhenDone) lifetime.StopApplication();
        }
    }

    private async Task RunAsync(string name, int round, CancellationToken stoppingToken)
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        bound.CancelAfter(_options.Timeout);
        var ct = bound.Token;

        // Awaits the SDK's hosted service, so this works whichever hosted service the host starts first.
        var provider = await providers.GetProviderAsync(name, ct);
        var deviceId = $"sensor-{name}-{round}";
        var registration = await provider.Registry.RegisterAsync(
            new DeviceRegistration
            {
                Id = deviceId,
                Credential = new CredentialRequest
                {
                    Kind = provider.Capabilities.DefaultCredentialKind,
                    Algorithm = _options.KeyAlgorithms.GetValueOrDefault(name, CredentialRequest.X509.Algorithm),
                },
            }, ct);
        LogRegistered(logger, name, provider.Name, deviceId);
        try
        {
            await using var device = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = deviceId, Credential = registration.Credential! });
            await device.ConnectAsync(ct);

            // Returns once the subscription is live on the provider, so every reading sent from here on is read back. AWS
            // reads telemetry over its service MQTT connection (IoT:Aws:<name>:ServiceMqttClientId with ServiceMqttCertificateFile,
            // see README.md), so without one the devices send and nothing reads back here.
            var canRead = provider.Capabilities.TelemetryConsumption;
            await using var subscription = canRead ? await provider.Telemetry.SubscribeAsync(ct) : null;
            var start = time.GetUtcNow();
            for (var i = 0; i < _options.ReadingsPerDevice; i++)
                await device.SendTelemetryAsync(new TelemetryRecord(deviceId, "temperature", 20 + i, start.AddSeconds(i)), ct);
            await device.FlushAsync(ct);

            int received = 0;
            double sum = 0;
            if (subscription is null)
            {
                report.Runs.Enqueue(new ProviderRun(name, provider.Name, deviceId, _options.ReadingsPerDevice, received, sum));
                LogSentOnly(logger, name, _options.ReadingsPerDevice);
                return;
            }
            await foreach (var record in subscription.ReadAllAsync(ct))
            {
                if (record.DeviceId != deviceId) continue;
                received++;
                sum += record.Value;
                LogReading(logger, name, record.DeviceId, record.Metric, record.Value);
                if (received == _options.ReadingsPerDevice) break;
            }
            report.Runs.Enqueue(new ProviderRun(name, provider.Name, deviceId, _options.ReadingsPerDevice, received, sum));
            LogRoundTrip(logger, name, _options.ReadingsPerDevice, received);
        }
        finally
        {
            // Leaves the registry as it was, so a run against a persistent database can be repeated.
            await provider.Registry.DeleteAsync(deviceId, CancellationToken.None);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "[{Provider}] ({Kind}) registered device {DeviceId}")]
    private static partial void LogRegistered(ILogger logger, string provider, string kind, string deviceId);

    [LoggerMessage(Level = LogLevel.Information, Message = "[{Provider}] read back {DeviceId} {Metric} = {Value}")]
    private static partial void LogReading(ILogger logger, string provider, string deviceId, string metric, double value);

    [LoggerMessage(Level = LogLevel.Information, Message = "[{Provider}] sent {Sent} readings, read {Received} back")]
    private static partial void LogRoundTrip(ILogger logger, string provider, int sent, int received);

    [LoggerMessage(Level = LogLevel.Information, Message = "[{Provider}] sent {Sent} readings; this provider reads none back as configured (no telemetry consumption)")]
    private static partial void LogSentOnly(ILogger logger, string provider, int sent);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Reason}")]
    private static partial void LogSkipped(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Done: {Count} round trips completed in {Rounds} rounds")]
    private static partial void LogDone(ILogger logger, int count, int rounds);

    [LoggerMessage(Level = LogLevel.Error, Message = "The worker failed")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
