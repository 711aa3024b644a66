using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Mqtt;
using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Azure;

/// <summary>
/// Where DPS assigned a device: the answer of <see cref="AzureIoTProvider.RegisterWithDpsAsync"/>. A named record rather
/// than a tuple, so the result can grow (and be documented) without breaking callers. There is no status: any status but
/// <c>assigned</c> is an <see cref="IoTException"/>.
/// </summary>
/// <param name="AssignedHub">The hub host the device must connect to.</param>
/// <param name="DeviceId">The device id in that hub.</param>
/// <param name="RegistrationState">The whole <c>registrationState</c> document.</param>
public sealed record DpsRegistrationResult(string? AssignedHub, string? DeviceId, JsonObject RegistrationState);

/// <summary>Settings of a DPS registration with a symmetric key.</summary>
public sealed record DpsRegistrationOptions
{
    /// <summary>The DPS global endpoint host. Default <c>global.azure-devices-provisioning.net</c>.</summary>
    public string Host { get; init; } = "global.azure-devices-provisioning.net";

    /// <summary>The TLS port. Default 8883.</summary>
    public int Port { get; init; } = 8883;

    /// <summary>The DPS instance's ID scope, for example <c>0ne00000A0A</c>. Required.</summary>
    public required string IdScope { get; init; }

    /// <summary>The registration id (usually the device id). Required.</summary>
    public required string RegistrationId { get; init; }

    /// <summary>
    /// The individual enrollment's key (base64), or a key already derived from a group key. Secret. Give exactly one of this
    /// and <see cref="EnrollmentGroupKey"/>.
    /// </summary>
    public string? DeviceKey { get; init; }

    /// <summary>
    /// The enrollment group's key (base64): the device key is derived from it and <see cref="RegistrationId"/> as DPS does
    /// (<c>BASE64(HMACSHA256(group key, registration id))</c>). Secret. Give exactly one of this and <see cref="DeviceKey"/>.
    /// </summary>
    public string? EnrollmentGroupKey { get; init; }

    /// <summary>The key the registration signs with: <see cref="DeviceKey"/>, or the one derived from <see cref="EnrollmentGroupKey"/>.</summary>
    /// <exception cref="ArgumentException">Neither or both are given, or the key is not base64; the message never holds a key.</exception>
    internal string ResolveDeviceKey()
    {
        if ((DeviceKey is null) == (EnrollmentGroupKey is null))
            throw new ArgumentException("Give exactly one of DeviceKey and EnrollmentGroupKey.", nameof(DeviceKey));
        if (DeviceKey is { } key)
        {
            SasToken.DecodeKey(key, nameof(DeviceKey));
            return key;
        }
        SasToken.DecodeKey(EnrollmentGroupKey, nameof(EnrollmentGroupKey));
        return SasToken.DeriveDeviceKey(EnrollmentGroupKey!, RegistrationId);
    }

    /// <summary>An optional JSON payload for custom allocation.</summary>
    public JsonNode? Payload { get; init; }

    /// <summary>Roots the DPS server certificate must chain to; the system store when <see langword="null"/>.</summary>
    public X509Certificate2Collection? TrustedRoots { get; init; }

    /// <summary>The poll interval when DPS sends no <c>retry-after</c>; also the lower bound. Default 2 s.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How long the whole registration may take. Default 2 minutes.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Describes the options without the key.</summary>
    public override string ToString() => $"DpsRegistrationOptions {{ Host = {Host}, IdScope = {IdScope}, RegistrationId = {RegistrationId}, key redacted }}";
}

/// <summary>
/// Registers a device with the Device Provisioning Service over MQTT (api-version 2019-03-31) using symmetric-key
/// attestation (an individual enrollment's key, or a group enrollment's key the device key is derived from).
/// Internal: its one public operation is <see cref="AzureIoTProvider.RegisterWithDpsAsync"/>.
/// </summary>
internal static class DpsProvisioningClient
{
    /// <summary>The DPS device API version.</summary>
    public const string ApiVersion = "2019-03-31";

    /// <summary>Registers and polls until DPS assigns (or refuses) the device.</summary>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    /// <exception cref="IoTException">DPS refused the registration or did not finish in time.</exception>
    public static async Task<DpsRegistrationResult> RegisterAsync(DpsRegistrationOptions options, TimeProvider? timeProvider = null, ILogger? logger = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.IdScope);
        DeviceIdRules.Azure.Validate(options.RegistrationId, nameof(options));
        var deviceKey = options.ResolveDeviceKey();
        if (options.PollInterval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(options), options.PollInterval, "PollInterval must be positive.");
        var time = timeProvider ?? TimeProvider.System;
        var userName = options.IdScope + "/registrations/" + options.RegistrationId + "/api-version=" + ApiVersion
            + "&ClientVersion=" + Uri.EscapeDataString(AzureIoTProvider.UserAgent);
        var responses = new ConcurrentDictionary<string, TaskCompletionSource<(int, Dictionary<string, string?>, JsonObject?)>>(StringComparer.Ordinal);
        await using var client = new MqttDeviceClient(new MqttDeviceClientOptions
        {
            Host = options.Host,
            Port = options.Port,
            ClientId = options.RegistrationId,
            TrustedRoots = options.TrustedRoots,
            Version = MqttVersion.Mqtt311,
            CleanSession = true,
            KeepAlive = TimeSpan.FromSeconds(180),
            CredentialProvider = _ =>
            {
                var expires = time.GetUtcNow().AddHours(1);
                var token = SasToken.Create(SasToken.ProvisioningResource(options.IdScope, options.RegistrationId), deviceKey, expires, "registration");
                return ValueTask.FromResult(new MqttCredentials(userName, token));
            },
        }, IotHubErrors.Provider, time, logger);
        await client.SubscribeAsync("$dps/registrations/res/#", (message, _) =>
        {
            // $dps/registrations/res/{status}/?$rid={rid}&retry-after={s}
            if (AzureTopics.TryParseResponse(message.Topic, ResponsePrefix, out var status, out var query)
                && query.GetValueOrDefault("$rid") is { } rid && responses.TryGetValue(rid, out var pending))
                pending.TrySetResult((status, query, ParseBody(message.Payload.Span)));
            return ValueTask.CompletedTask;
        }, MqttQualityOfService.AtLeastOnce, cancellationToken).ConfigureAwait(false);

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(options.Timeout);
        try
        {
            await client.ConnectAsync(deadline.Token).ConfigureAwait(false);
            var register = new JsonObject { ["registrationId"] = options.RegistrationId };
            if (options.Payload is not null) register["payload"] = options.Payload.DeepClone();
            var (status, query, body) = await RequestAsync(rid => "$dps/registrations/PUT/iotdps-register/?$rid=" + rid, Encoding.UTF8.GetBytes(register.ToJsonString())).ConfigureAwait(false);
            while (true)
            {
                var step = Interpret(options.RegistrationId, status, query, body, options.PollInterval, options.Timeout);
                if (step.Result is { } result) return result;
                await Task.Delay(step.Wait, time, deadline.Token).ConfigureAwait(false);
                (status, query, body) = await RequestAsync(rid => "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=" + rid + "&operationId=" + Uri.EscapeDataString(step.OperationId!),
                    " "u8.ToArray()).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new IoTException(IoTErrorKind.Unknown, $"DPS did not finish registering '{options.RegistrationId}' within {options.Timeout.TotalSeconds:0} s.", IotHubErrors.Provider, "ProvisioningTimeout", isTransient: true, innerException: ex);
        }

        async Task<(int, Dictionary<string, string?>, JsonObject?)> RequestAsync(Func<string, string> topic, byte[] payload)
        {
            var rid = Guid.NewGuid().ToString();
            var completion = new TaskCompletionSource<(int, Dictionary<string, string?>, JsonObject?)>(TaskCreationOptions.RunContinuationsAsynchronously);
            responses[rid] = completion;
            try
            {
                await client.PublishAsync(topic(rid), payload, MqttQualityOfService.AtLeastOnce, false, deadline.Token).ConfigureAwait(false);
                return await completion.Task.WaitAsync(deadline.Token).ConfigureAwait(false);
            }
            finally
            {
                responses.TryRemove(rid, out _);
            }
        }
    }

    private const string ResponsePrefix = "$dps/registrations/res/";

    /// <summary>A DPS response body; null when it is empty or not a well-formed JSON object.</summary>
    internal static JsonObject? ParseBody(ReadOnlySpan<byte> payload) =>
        // Strict: with JsonNode.Parse, duplicate keys or bad strings threw later from ToJsonString/Text, outside any typed error.
        payload.IsEmpty ? null : StrictJson.TryParseObject(payload);

    /// <summary>What one DPS answer means: the final result, or the operation to poll and how long to wait first.</summary>
    /// <exception cref="IoTException">DPS refused the registration or answered something unusable.</exception>
    internal static (DpsRegistrationResult? Result, string? OperationId, TimeSpan Wait) Interpret(string registrationId, int status,
        IReadOnlyDictionary<string, string?> query, JsonObject? body, TimeSpan pollInterval, TimeSpan timeout)
    {
        if (status >= 300)
        {
            var error = IotHubErrors.Parse(status, body?.ToJsonString() is { } json ? JsonSerializer.Serialize(new { Message = json }) : null, null);
            throw IotHubErrors.ToException(error, registrationId, null);
        }
        var state = TwinMapping.Text(body?["status"]);
        if (status == 200 && state is not ("assigning" or "unassigned"))
        {
            var registration = body?["registrationState"] as JsonObject ?? [];
            if (state != "assigned")
                throw new IoTException(IoTErrorKind.Unknown, $"DPS did not assign '{registrationId}': status {state}, {TwinMapping.Text(registration["errorMessage"])}.", IotHubErrors.Provider, state ?? "unknown");
            return (new DpsRegistrationResult(TwinMapping.Text(registration["assignedHub"]), TwinMapping.Text(registration["deviceId"]), registration), null, TimeSpan.Zero);
        }
        var operationId = TwinMapping.Text(body?["operationId"])
            ?? throw new IoTException(IoTErrorKind.Unknown, "DPS answered without an operationId.", IotHubErrors.Provider, "InvalidResponse");
        var wait = pollInterval;
        // Capped at the overall timeout: a huge retry-after (past Task.Delay's ~49-day limit) threw ArgumentOutOfRangeException.
        if (query.GetValueOrDefault("retry-after") is { } after && int.TryParse(after, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
            wait = TimeSpan.FromSeconds(Math.Clamp(seconds, 1, Math.Clamp(timeout.TotalSeconds, 1, 86_400)));
        return (null, operationId, wait);
    }
}
