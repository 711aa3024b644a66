using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Exceptions;
using MQTTnet.Formatter;

namespace IoTMastery.Sdk.Mqtt;

// Connecting: one attempt (CONNECT, then the subscriptions), its TLS checks and how failures map to IoTException.
internal sealed partial class MqttDeviceClient
{
    private string? _serverCertificateProblem;
    // Set during a connect attempt when the server requested a client certificate and the options have none.
    private volatile bool _serverAskedForCertificate;

    private async Task ConnectCoreAsync(bool throwOnSubscriptionRefusal, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
        await _connectGate.WaitAsync(linked.Token).ConfigureAwait(false);
        try
        {
            if (_client.IsConnected) return;
            var credentials = _options.CredentialProvider is { } provide ? await provide(linked.Token).ConfigureAwait(false) : null;
            var options = BuildOptions(credentials);
            linked.CancelAfter(_options.ConnectTimeout);
            _serverCertificateProblem = null;
            _serverAskedForCertificate = false;
            lock (_stateLock) _connectionComplete = false;
            MqttClientConnectResult result;
            try
            {
                result = await _client.ConnectAsync(options, linked.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not IoTException)
            {
                if (ex is OperationCanceledException && cancellationToken.IsCancellationRequested) throw;
                throw MapConnectFailure(ex);
            }
            // Before the result check (a refused CONNACK has none, and nothing publishes on a refused connection anyway).
            SetReceiveMaximum(result.ReceiveMaximum ?? 0);
            if (result.ResultCode != MqttClientConnectResultCode.Success)
                throw MapRefusal(result.ResultCode);
            Log.Connected(_logger, _options.ClientId, _options.Host, _options.Port);
            try
            {
                await SendSubscribeAsync(_subscriptions.Values.ToList(), linked.Token).ConfigureAwait(false);
            }
            catch (IoTException ex) when (ex.Kind == IoTErrorKind.Authorization && !throwOnSubscriptionRefusal)
            {
                Log.SubscriptionRefusedOnReconnect(_logger, _options.ClientId, ErrorText.Name(ex));
            }
            catch (Exception ex) when (ex is IoTException { IsTransient: true } or OperationCanceledException)
            {
                // Connected but not subscribed is not connected: close, so the next attempt (a retry or the caller's) subscribes
                // again instead of finding a live connection and returning early without the subscriptions.
                await DisconnectClientAsync().ConfigureAwait(false);
                if (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested && !_disposed.IsCancellationRequested)
                    throw new IoTException(IoTErrorKind.Unknown, $"The broker did not acknowledge the subscriptions of '{_options.ClientId}' within the connect timeout.", _provider, "ConnectTimeout", isTransient: true, innerException: ex);
                throw;
            }
            Interlocked.Increment(ref _connectionGeneration);
            lock (_stateLock) _connectionComplete = true;
            ScheduleRenewal(credentials);
        }
        finally
        {
            _connectGate.Release();
        }
        RaiseConnected();
    }

    internal MqttClientOptions BuildOptions(MqttCredentials? credentials)
    {
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(_options.Host, _options.Port)
            .WithClientId(_options.ClientId)
            .WithProtocolVersion(_options.Version == MqttVersion.Mqtt5 ? MqttProtocolVersion.V500 : MqttProtocolVersion.V311)
            .WithKeepAlivePeriod(_options.KeepAlive)
            .WithTimeout(_options.ConnectTimeout)
            .WithCleanSession(_options.CleanSession)
            .WithTlsOptions(tls =>
            {
                tls.UseTls()
                    .WithSslProtocols(SslProtocols.Tls12 | SslProtocols.Tls13)
                    .WithTargetHost(_options.Host)
                    .WithCertificateValidationHandler(ValidateServerCertificate);
                if (_options.ClientCertificate is { } certificate)
                    tls.WithClientCertificates([certificate]);
                else if (_options.CredentialProvider is null)
                    // No credential at all: notice whether the server asks for a certificate. Password clients (SAS, JWT) are left
                    // out, since servers such as IoT Hub ask for one optionally and their drops must stay transient.
                    tls.WithCertificateSelectionHandler(NoClientCertificate);
                if (_options.ApplicationProtocols is { Count: > 0 } alpn)
                    tls.WithApplicationProtocols(alpn.ToList());
            });
        if (credentials is not null)
            builder.WithCredentials(credentials.UserName, credentials.Password);
        var options = builder.Build();
        // MQTTnet sets both socket buffers to this size (its default 8 KiB; setting it also turns off the kernel's autotuning).
        if (_options.SocketBufferBytes is { } bufferBytes && options.ChannelOptions is MqttClientTcpOptions tcp) tcp.BufferSize = bufferBytes;
        return options;
    }

    // Custom-root chain check plus the host-name check SslStream already did; validation cannot be turned off.
    private bool ValidateServerCertificate(MqttClientCertificateValidationEventArgs args)
    {
        if (args.Certificate is null || args.SslPolicyErrors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
            return Reject("the server sent no certificate");
        if (args.SslPolicyErrors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
            return Reject($"it is not issued for '{_options.Host}'");
        if (_options.TrustedRoots is not { Count: > 0 } roots)
            return args.SslPolicyErrors == SslPolicyErrors.None || Reject($"chain errors ({args.SslPolicyErrors})");

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = _time.GetUtcNow().UtcDateTime;
        if (args.Chain is not null)
        {
            foreach (var element in args.Chain.ChainElements)
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
        }
        var certificate = args.Certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(args.Certificate.GetRawCertData());
        if (!chain.Build(certificate))
            return Reject("it does not chain to a trusted root: " + string.Join(", ", chain.ChainStatus.Select(s => s.Status)));
        return true;

        bool Reject(string reason)
        {
            _serverCertificateProblem = reason;
            return false;
        }
    }

    // Called by SslStream when the handshake starts and again, with the server's certificate, if the server asks for a client certificate.
    private X509Certificate? NoClientCertificate(MqttClientCertificateSelectionEventArgs args)
    {
        if (args.RemoveCertificate is not null) _serverAskedForCertificate = true;
        return null;
    }

    private IoTException MapConnectFailure(Exception ex)
    {
        if (_serverCertificateProblem is { } problem)
            return new IoTException(IoTErrorKind.Unknown, $"The server certificate of {_options.Host}:{_options.Port} was rejected: {problem}.", _provider, "ServerCertificateUntrusted", isTransient: false, innerException: ex);
        // The broker asked for a client certificate, got none (and no password follows) and closed the connection: during the
        // handshake under TLS 1.2, at the first read under TLS 1.3. A misconfiguration no retry fixes, so not transient.
        if (_serverAskedForCertificate && ex is not (OperationCanceledException or MqttCommunicationTimedOutException))
            return new IoTException(IoTErrorKind.Authentication, $"{_options.Host}:{_options.Port} requires a client certificate and none is configured for '{_options.ClientId}'.", _provider, "ClientCertificateRequired", innerException: ex);
        if (ex is OperationCanceledException or MqttCommunicationTimedOutException)
            return new IoTException(IoTErrorKind.Unknown, $"Connecting to {_options.Host}:{_options.Port} timed out.", _provider, "ConnectTimeout", isTransient: true, innerException: ex);
        return new IoTException(IoTErrorKind.Unknown, $"Could not connect to {_options.Host}:{_options.Port}: {Describe(ex)}.", _provider, "ConnectFailed", isTransient: true, innerException: ex);
    }

    private IoTException MapRefusal(MqttClientConnectResultCode code)
    {
        if (code is MqttClientConnectResultCode.NotAuthorized or MqttClientConnectResultCode.BadUserNameOrPassword
            or MqttClientConnectResultCode.Banned or MqttClientConnectResultCode.BadAuthenticationMethod or MqttClientConnectResultCode.ClientIdentifierNotValid)
            return new IoTException(IoTErrorKind.Authentication, $"The broker refused the connection of '{_options.ClientId}': {code}.", _provider, code.ToString());
        var transient = code is MqttClientConnectResultCode.ServerUnavailable or MqttClientConnectResultCode.ServerBusy or MqttClientConnectResultCode.UnspecifiedError
            or MqttClientConnectResultCode.QuotaExceeded or MqttClientConnectResultCode.ConnectionRateExceeded or MqttClientConnectResultCode.UseAnotherServer or MqttClientConnectResultCode.ServerMoved;
        return new IoTException(IoTErrorKind.Unknown, $"The broker refused the connection of '{_options.ClientId}': {code}.", _provider, code.ToString(), transient);
    }

    // Only exception types and socket messages: TLS exceptions can quote certificate subjects but never keys.
    private static string Describe(Exception ex)
    {
        var innermost = ex;
        while (innermost.InnerException is not null) innermost = innermost.InnerException;
        return innermost.GetType().Name + ": " + innermost.Message;
    }
}
