using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Mqtt;

/// <summary>
/// What the four providers' device connections share over one <see cref="MqttDeviceClient"/>: connect with subscriptions
/// registered once (and restored by the client after every reconnect), telemetry through the pipeline, the command and
/// desired-state handler slots, command dispatch off the network loop with its reply, tracked background work and one
/// dispose order. A provider supplies its topics and payload mapping, its credentials and its own features.
/// </summary>
/// <remarks>
/// The dispose order, the same for every provider:
/// <list type="number">
/// <item>Stop accepting: every member then throws <see cref="ObjectDisposedException"/> and messages that arrive are not
/// handed to handlers, so no new work starts while the rest shuts down.</item>
/// <item>Cancel the handlers and background work still running and wait for them, at most <see cref="ShutdownTimeout"/>, with
/// the connection still up: a command handler that answers its cancellation still gets its reply to the fleet, and no
/// publish is cut off mid-flight (which closes the connection uncleanly, seen as a lost connection by the cloud). Before
/// the telemetry drain, so a long drain cannot push those replies past the caller's command timeout.</item>
/// <item>Drain the telemetry pipeline (bounded by its <see cref="TelemetryPipelineOptions.DrainTimeout"/>), still connected,
/// so records accepted before the dispose are delivered.</item>
/// <item>Dispose the MQTT client: a clean DISCONNECT, no more reconnects, its dispatch loop ends.</item>
/// <item>Release the provider's own resources (certificates, pending requests), which nothing uses any more.</item>
/// </list>
/// </remarks>
internal abstract partial class MqttDeviceConnection : IDeviceConnection
{
    /// <summary>How long a dispose waits for handlers and background work after cancelling them.</summary>
    internal static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(5);

    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stopping = new();
    private readonly SemaphoreSlim _subscribeGate = new(1, 1);
    private readonly HashSet<string> _subscribed = new(StringComparer.Ordinal);
    private readonly Lock _workLock = new();
    // Under _workLock: background work still running, and the dispose once it began (no work starts after that). _disposing is
    // also read without the lock (volatile) on the hot paths, such as every telemetry record.
    private readonly HashSet<Task> _work = [];
    private volatile bool _disposing;
    private Task? _disposal;
    private MqttDeviceClient? _client;
    private TelemetryPipeline? _pipeline;

    /// <summary>Creates the shared part; the subclass then builds its client and pipeline and calls <see cref="Initialize"/>.</summary>
    protected MqttDeviceConnection(TimeProvider time, ILogger logger)
    {
        _time = time;
        Logger = logger;
    }

    /// <inheritdoc />
    public string DeviceId { get; private set; } = "";

    /// <inheritdoc />
    public bool IsConnected => _client?.IsConnected ?? false;

    /// <summary>The MQTT connection, for its Connected/Disconnected signals.</summary>
    internal MqttDeviceClient Client => _client ?? throw new InvalidOperationException("The connection is not initialized.");

    /// <summary>The shared connection behind a provider's <see cref="IDeviceConnection"/>, or null when it is not one (for tests).</summary>
    internal static MqttDeviceConnection? Of(IDeviceConnection connection) =>
        connection as MqttDeviceConnection ?? (connection as IMqttDeviceConnectionOwner)?.Connection;

    /// <summary>The command and desired-state handlers.</summary>
    internal DeviceHandlerSlots Slots { get; } = new();

    /// <summary>This connection's logger; never receives secrets.</summary>
    protected ILogger Logger { get; }

    /// <summary>Cancelled when the dispose begins: the token handlers and background work get.</summary>
    protected CancellationToken Stopping => _stopping.Token;

    /// <summary>Whether the dispose began.</summary>
    protected bool IsDisposing => _disposing;

    /// <summary>The checks every provider makes first: the options and a credential are there, the device id keeps the provider's rules, the telemetry options are valid.</summary>
    /// <exception cref="ArgumentException">One of them is not.</exception>
    protected static void Validate(DeviceConnectionOptions options, DeviceIdRules rules)
    {
        ArgumentNullException.ThrowIfNull(options);
        rules.Validate(options.DeviceId, nameof(options));
        ArgumentNullException.ThrowIfNull(options.Credential, nameof(options));
        options.Telemetry.Validate();
    }

    /// <summary>The device certificate with its private key, for the providers whose devices connect with mutual TLS only.</summary>
    /// <param name="options">Validated options.</param>
    /// <param name="devices">Who needs it, for the message: for example <c>AWS IoT devices</c>.</param>
    /// <exception cref="ArgumentException">The credential is not a certificate with its key.</exception>
    protected static X509Certificate2 RequireCertificate(DeviceConnectionOptions options, string devices)
    {
        var credential = options.Credential;
        if (credential.Info.Kind != CredentialKind.X509Certificate || credential.CertificatePem is null || credential.PrivateKeyPem is null)
            throw new ArgumentException($"{devices} connect with an X.509 certificate and its private key; credential '{ErrorText.Escape(credential.Id)}' is a {credential.Info.Kind} credential without one.", nameof(options));
        return credential.ToCertificate();
    }

    /// <summary>
    /// Creates the MQTT client with the connect bounds and socket buffers every provider takes from <see cref="DeviceConnectionOptions"/>;
    /// socket buffers the options leave unset keep the provider's default in <paramref name="client"/>.
    /// </summary>
    protected static MqttDeviceClient CreateClient(MqttDeviceClientOptions client, DeviceConnectionOptions options, string provider, TimeProvider time, ILoggerFactory loggers) =>
        new(client with { ConnectTimeout = options.ConnectTimeout, ConnectRetryBudget = options.ConnectRetryBudget, SocketBufferBytes = options.SocketBufferBytes ?? client.SocketBufferBytes }, provider, time, loggers.CreateLogger<MqttDeviceClient>());

    /// <summary>Sets what the subclass built; called once from its constructor.</summary>
    protected void Initialize(string deviceId, MqttDeviceClient client, TelemetryPipeline pipeline)
    {
        DeviceId = deviceId;
        _client = client;
        _pipeline = pipeline;
        client.Connected += (_, _) =>
        {
            if (!IsDisposing) OnConnected();
        };
    }

    /// <inheritdoc />
    public async Task ConnectAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        // Registered before connecting, so the client sends them with this and every later connect.
        await SubscribeBeforeConnectAsync(cancellationToken).ConfigureAwait(false);
        await Client.ConnectAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask SendTelemetryAsync(TelemetryRecord record, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        DeviceHandlerSlots.ValidateRecord(record, DeviceId);
        return _pipeline!.WriteAsync(record, cancellationToken);
    }

    /// <inheritdoc />
    public Task FlushAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _pipeline!.FlushAsync(cancellationToken);
    }

    /// <inheritdoc />
    public void SetCommandHandler(CommandHandler handler)
    {
        ThrowIfDisposed();
        Slots.SetCommandHandler(handler);
    }

    /// <inheritdoc />
    public void SetDesiredStateHandler(DesiredStateHandler handler)
    {
        ThrowIfDisposed();
        var stored = Slots.SetDesiredStateHandler(handler);
        OnDesiredStateHandlerSet(stored);
    }

    /// <inheritdoc />
    public Task ReportStateAsync(JsonObject patch, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(patch);
        return ReportStateCoreAsync(patch, cancellationToken);
    }

    /// <summary>Registers the provider's subscriptions (with <see cref="EnsureSubscribedAsync"/>) before each connect.</summary>
    protected abstract Task SubscribeBeforeConnectAsync(CancellationToken cancellationToken);

    /// <summary>Publishes <paramref name="patch"/> (checked for null) the provider's way.</summary>
    protected abstract Task ReportStateCoreAsync(JsonObject patch, CancellationToken cancellationToken);

    /// <summary>A desired-state handler was set; <paramref name="stored"/> is the change the slots kept, if the provider keeps it there.</summary>
    protected abstract void OnDesiredStateHandlerSet(DesiredStateChange? stored);

    /// <summary>After every connect and reconnect (subscriptions restored): start on-connect requests with <see cref="RunInBackground"/>.</summary>
    protected virtual void OnConnected()
    {
    }

    /// <summary>Releases the provider's own resources, last in the dispose order.</summary>
    protected virtual ValueTask DisposeResourcesAsync() => ValueTask.CompletedTask;

    /// <summary>
    /// Subscribes <paramref name="handler"/> to <paramref name="filter"/> once: a second call for the same filter does nothing.
    /// The handler runs on the client's dispatch loop with <see cref="Stopping"/>, counts as running work for the dispose,
    /// and is not called once the dispose began.
    /// </summary>
    protected async Task EnsureSubscribedAsync(string filter, MqttMessageHandler handler, MqttQualityOfService qos, CancellationToken cancellationToken)
    {
        await _subscribeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_subscribed.Contains(filter)) return;
            await Client.SubscribeAsync(filter, (message, _) => RunInline(handler, message), qos, cancellationToken).ConfigureAwait(false);
            _subscribed.Add(filter);
        }
        finally
        {
            _subscribeGate.Release();
        }
    }

    private ValueTask RunInline(MqttMessageHandler handler, MqttIncomingMessage message)
    {
        var task = Track(() => handler(message, Stopping).AsTask());
        return task is null ? ValueTask.CompletedTask : new ValueTask(task);
    }

    /// <summary>Starts <paramref name="work"/> off the dispatch loop with <see cref="Stopping"/>; the dispose waits for it. Nothing starts once the dispose began.</summary>
    protected void RunInBackground(Func<CancellationToken, Task> work) =>
        Track(() => Task.Run(() => work(Stopping)));

    // Registers the work before starting it (so a dispose that begins meanwhile waits for it) and starts it outside the lock,
    // since an inline handler runs synchronously up to its first await. The dispose waits for the marker, which never faults.
    private Task? Track(Func<Task> start)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_workLock)
        {
            if (_disposing) return null;
            _work.Add(done.Task);
        }
        Task task;
        try
        {
            task = start();
        }
        catch (Exception ex)
        {
            task = Task.FromException(ex);
        }
        _ = task.ContinueWith(static (_, state) =>
        {
            var (self, marker) = ((MqttDeviceConnection, TaskCompletionSource))state!;
            lock (self._workLock) self._work.Remove(marker.Task);
            marker.TrySetResult();
        }, (this, done), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return task;
    }

    /// <summary>
    /// Runs a command in the background, as every provider does so a slow handler holds up neither desired state nor other
    /// commands: <paramref name="run"/> yields the response (null: cancelled, no reply), then <paramref name="reply"/> publishes
    /// it. The reply is not cut short by the dispose (the publish has its own timeout), so an answer to the cancellation arrives.
    /// </summary>
    protected void DispatchCommand(string name, Func<CancellationToken, Task<CommandResponse?>> run, Func<CommandResponse, Task> reply) =>
        RunInBackground(async stopping =>
        {
            if (await run(stopping).ConfigureAwait(false) is not { } response) return;
            try
            {
                await reply(response).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                // Logged here: nothing awaits this task, and the fleet side sees the missing reply as its timeout.
                Log.ReplyNotDelivered(Logger, DeviceId, ErrorText.Escape(name), ErrorText.Name(ex));
            }
        });

    /// <summary>Runs the command handler on a JSON payload with the neutral answers (501 without a handler, 400 not JSON, 500 on a failure).</summary>
    internal Func<CancellationToken, Task<CommandResponse?>> JsonCommand(string name, ReadOnlyMemory<byte> payload, string notJsonError) =>
        stopping => Slots.RunCommandAsync(name, payload, notJsonError, Logger, stopping);

    /// <summary>Hands <paramref name="change"/> to the handler; a failure is logged, not thrown (the change is not retried).</summary>
    protected async Task InvokeDesiredHandlerAsync(DesiredStateHandler handler, DesiredStateChange change, CancellationToken cancellationToken)
    {
        try
        {
            await handler(change.Desired, change.Version, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Log.DesiredHandlerFailed(Logger, ex, DeviceId, change.Version);
        }
    }

    /// <summary>Hands <paramref name="change"/> to the handler when one is set and its version was not delivered yet: never backwards.</summary>
    protected async Task DeliverIfNewerAsync(DesiredStateChange change, CancellationToken cancellationToken)
    {
        if (Slots.TryBeginDelivery(change, out var handler)) await InvokeDesiredHandlerAsync(handler, change, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Hands the latest change the slots keep to the handler (a copy), once per version and never backwards.</summary>
    protected async Task DeliverLatestAsync(CancellationToken cancellationToken)
    {
        if (Slots.TryBeginLatestDelivery(out var handler, out var latest))
            await InvokeDesiredHandlerAsync(handler, new DesiredStateChange((JsonObject)latest.Desired.DeepClone(), latest.Version), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Throws <see cref="ObjectDisposedException"/> once the dispose began.</summary>
    protected void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(IsDisposing, this);

    /// <summary>Shuts down in the order the class remarks give; a later call waits for the same shutdown and does nothing more.</summary>
    public ValueTask DisposeAsync()
    {
        lock (_workLock)
        {
            _disposing = true;
            _disposal ??= DisposeCoreAsync();
        }
        return new ValueTask(_disposal);
    }

    private async Task DisposeCoreAsync()
    {
        // Off the caller's lock: the first await below may complete synchronously.
        await Task.Yield();
        Task[] running;
        await _stopping.CancelAsync().ConfigureAwait(false);
        lock (_workLock) running = [.. _work];
        if (running.Length > 0)
        {
            try
            {
                await Task.WhenAll(running).WaitAsync(ShutdownTimeout, _time).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                Log.HandlersOutlivedDispose(Logger, running.Count(t => !t.IsCompleted), DeviceId, ShutdownTimeout);
            }
        }
        if (_pipeline is not null) await _pipeline.DisposeAsync().ConfigureAwait(false);
        if (_client is not null) await _client.DisposeAsync().ConfigureAwait(false);
        await DisposeResourcesAsync().ConfigureAwait(false);
        // _stopping is not disposed: work that outlived the bound may still read its token.
    }
}

/// <summary>A public device connection that wraps an <see cref="MqttDeviceConnection"/> (a public class cannot derive from the internal base).</summary>
internal interface IMqttDeviceConnectionOwner
{
    /// <summary>The wrapped connection.</summary>
    MqttDeviceConnection Connection { get; }
}
