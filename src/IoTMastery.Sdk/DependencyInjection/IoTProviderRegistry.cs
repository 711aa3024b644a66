using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk.DependencyInjection;

/// <summary>
/// Owns the providers added with <c>AddIoT()</c>: starts them all in parallel (from the hosted service, never from a DI
/// factory, so nothing blocks on start-up), hands them out by name, and disposes them on stop.
/// </summary>
internal sealed partial class IoTProviderRegistry : IIoTProviderFactory, IAsyncDisposable
{
    private readonly IoTProviderRegistrations _registrations;
    private readonly IServiceProvider _services;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, IIoTProvider> _started = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _startup = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _lock = new();
    private Task? _starting;
    private Task? _stopping;

    public IoTProviderRegistry(IoTProviderRegistrations registrations, IServiceProvider services, ILoggerFactory? loggerFactory = null)
    {
        _registrations = registrations;
        _services = services;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("IoTMastery.Sdk.Providers");
        // Nobody may await the start (no provider resolved asynchronously); keep a failed start from going unobserved.
        _ = _startup.Task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
    }

    public IReadOnlyList<string> Names
    {
        get
        {
            lock (_registrations) return _registrations.Providers.Select(p => p.Name).ToArray();
        }
    }

    public IIoTProvider GetProvider(string name)
    {
        CheckKnown(name);
        if (_started.TryGetValue(name, out var provider)) return provider;
        if (_startup.Task.IsFaulted)
            throw new InvalidOperationException($"IoT provider '{name}' is not available: the providers failed to start ({_startup.Task.Exception!.InnerException!.Message})", _startup.Task.Exception.InnerException);
        if (_stopping is not null)
            throw new InvalidOperationException($"IoT provider '{name}' was stopped with the host.");
        throw new InvalidOperationException(
            $"IoT provider '{name}' has not started yet: providers start when the host starts (IHost.StartAsync). Resolve it after that, " +
            "e.g. in BackgroundService.ExecuteAsync rather than a constructor, or await IIoTProviderFactory.GetProviderAsync.");
    }

    public async Task<IIoTProvider> GetProviderAsync(string name, CancellationToken cancellationToken = default)
    {
        CheckKnown(name);
        await _startup.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        return GetProvider(name);
    }

    /// <summary>The provider the unkeyed interfaces resolve to: the only one, or the one marked with AsDefault().</summary>
    internal IIoTProvider GetDefaultProvider()
    {
        string name;
        lock (_registrations)
        {
            var names = _registrations.Providers.Select(p => p.Name).ToArray();
            if (names.Length == 0)
                throw new InvalidOperationException("No IoT provider is added: call services.AddIoT().AddLocal(...) (or AddAws, AddAzure, AddGcp).");
            if (_registrations.DefaultName is null && names.Length > 1)
                throw new InvalidOperationException(
                    $"{names.Length} IoT providers are added ({Quote(names)}) and none is the default, so the unkeyed IIoTProvider and neutral " +
                    "interfaces cannot choose: mark one with AsDefault() (AddIoT().AddLocal(\"edge\").AsDefault()), or resolve by name " +
                    "([FromKeyedServices(\"name\")] or IIoTProviderFactory.GetProvider).");
            name = _registrations.DefaultName ?? names[0];
        }
        return GetProvider(name);
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_stopping is not null) throw new InvalidOperationException("The IoT providers were stopped; they start once per host.");
            return _starting ??= StartAllAsync(cancellationToken);
        }
    }

    private async Task StartAllAsync(CancellationToken cancellationToken)
    {
        IoTProviderRegistration[] providers;
        lock (_registrations) providers = [.. _registrations.Providers];
        // Task.Run: a provider's start may do synchronous work (open a database, bind a port) before its first await;
        // running each on the pool keeps one slow start from delaying the others.
        var starts = providers.Select(p => Task.Run(() => StartOneAsync(p, cancellationToken), cancellationToken)).ToArray();
        try
        {
            await Task.WhenAll(starts).ConfigureAwait(false);
        }
        catch
        {
            // Inspected below, per provider.
        }

        var failures = providers.Zip(starts).Where(s => !s.Second.IsCompletedSuccessfully).ToArray();
        if (failures.Length == 0)
        {
            _startup.TrySetResult();
            return;
        }

        // A partial start is no start: stop what did come up, so a retried host start begins clean and nothing leaks.
        await DisposeStartedAsync().ConfigureAwait(false);
        var errors = failures.Select(f => f.Second.Exception?.InnerException ?? new OperationCanceledException(cancellationToken)).ToArray();
        if (cancellationToken.IsCancellationRequested && errors.All(e => e is OperationCanceledException))
        {
            var canceled = new OperationCanceledException($"Starting IoT providers {Quote(failures.Select(f => f.First.Name))} was canceled.", cancellationToken);
            _startup.TrySetException(canceled);
            throw canceled;
        }
        var detail = string.Join("; ", failures.Zip(errors).Select(f => $"'{f.First.First.Name}': {f.Second.GetType().Name}: {f.Second.Message}"));
        var error = new InvalidOperationException(
            failures.Length == 1
                ? $"IoT provider '{failures[0].First.Name}' failed to start: {errors[0].GetType().Name}: {errors[0].Message}"
                : $"IoT providers {Quote(failures.Select(f => f.First.Name))} failed to start: {detail}",
            errors.Length == 1 ? errors[0] : new AggregateException(errors));
        _startup.TrySetException(error);
        throw error;
    }

    private async Task StartOneAsync(IoTProviderRegistration registration, CancellationToken cancellationToken)
    {
        var provider = await registration.StartAsync(_services, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"IoT provider '{registration.Name}': its start function returned null.");
        _started[registration.Name] = provider;
        LogStarted(_logger, registration.Name, provider.Name);
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        lock (_lock) _stopping ??= DisposeStartedAsync();
        return _stopping.WaitAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        Task stopping;
        lock (_lock) stopping = _stopping ??= DisposeStartedAsync();
        await stopping.ConfigureAwait(false);
    }

    private async Task DisposeStartedAsync()
    {
        var started = _started.ToArray();
        _started.Clear();
        var disposals = started.Select(async s =>
        {
            try
            {
                await s.Value.DisposeAsync().ConfigureAwait(false);
                LogStopped(_logger, s.Key);
            }
            catch (Exception e)
            {
                // One provider failing to close must not keep the others open.
                LogStopFailed(_logger, s.Key, e);
            }
        });
        await Task.WhenAll(disposals).ConfigureAwait(false);
    }

    private void CheckKnown(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        lock (_registrations)
        {
            if (_registrations.Providers.Any(p => p.Name == name)) return;
            var names = _registrations.Providers.Select(p => p.Name).ToArray();
            throw new ArgumentException(names.Length == 0
                ? $"No IoT provider named '{name}': none is added (services.AddIoT().AddLocal(\"{name}\"), …)."
                : $"No IoT provider named '{name}'; the added providers are {Quote(names)} (names are case-sensitive).", nameof(name));
        }
    }

    private static string Quote(IEnumerable<string> names) => string.Join(", ", names.Select(n => $"'{n}'"));

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "IoT provider '{Name}' ({Kind}) started")]
    private static partial void LogStarted(ILogger logger, string name, string kind);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "IoT provider '{Name}' stopped")]
    private static partial void LogStopped(ILogger logger, string name);

    [LoggerMessage(EventId = 3, Level = LogLevel.Error, Message = "IoT provider '{Name}' failed to stop")]
    private static partial void LogStopFailed(ILogger logger, string name, Exception exception);
}
