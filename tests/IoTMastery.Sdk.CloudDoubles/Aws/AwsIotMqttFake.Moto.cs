using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace IoTMastery.Sdk.CloudDoubles.Aws;

/// <remarks>
/// <para><b>Backed by moto</b> (<see cref="AwsIotMotoBacking"/>): the double then fronts moto's account instead of keeping
/// its own, so what the provider writes through moto's HTTP planes is what devices see over MQTT, as on AWS IoT Core.</para>
/// <list type="bullet">
/// <item>Connect: the client id must name a thing in moto, and the presented certificate must be attached to it
/// (ListThingPrincipals, then DescribeCertificate of each, matched by DER) with status <c>ACTIVE</c>. Otherwise CONNACK
/// <c>NotAuthorized</c> (MQTT 5 0x87 / 3.1.1 code 5). AWS requires "a valid and active certificate" (Developer Guide,
/// "Diagnosing connectivity issues") and closes the connection otherwise; a refused CONNACK is the observable form of
/// that refusal our device connection maps to <c>IoTException</c> of kind <c>Authentication</c> and never retries. Any certificate may
/// be registered (AWS's multi-account registration), so the double's CA is not checked in this mode.</item>
/// <item>Live connections: every <see cref="AwsIotMotoBacking.PollInterval"/> each connected client's certificate is
/// read again; one no longer <c>ACTIVE</c> (INACTIVE, REVOKED, deleted) or no longer attached to the thing ends the
/// connection with a server DISCONNECT <c>NotAuthorized</c>, and the lifecycle event says <c>AUTH_ERROR</c>. Staleness:
/// at most one interval plus one moto answer (bounded by <see cref="AwsIotMotoBacking.RequestTimeout"/>).</item>
/// <item>Shadows (classic and named) are moto's: <c>get</c>/<c>update</c>/<c>delete</c> over MQTT call GetThingShadow /
/// UpdateThingShadow / DeleteThingShadow. moto computes <c>version</c>, <c>metadata</c> and the <c>delta</c> of a get;
/// the double adds what moto lacks: the <c>clientToken</c> echo, the <c>update/documents</c> message (previous and
/// current read around the update), the <c>update/delta</c> message, the 8 KB and clientToken limits, and a
/// <c>version</c> on a shadow that does not exist yet (moto fails with 500; here 409 unless it is 0).</item>
/// <item>Fleet-side updates made directly against moto (the provider's UpdateThingShadow) reach devices: every poll
/// reads the classic shadow of each connected thing and the named shadows its client subscribed to by name, and a
/// version above the last one seen publishes <c>update/documents</c> and, when desired changed and differs from
/// reported, <c>update/delta</c>. Not published for those: <c>update/accepted</c> (the double never sees the
/// request). Polls and device requests run in one queue, so a device's own update is never reported twice.</item>
/// <item>Jobs stay in the double (moto has no <c>iot-jobs-data</c>); <see cref="UpdateShadowAsync"/> and
/// <see cref="GetShadow"/> refuse in this mode: use moto's data plane.</item>
/// </list>
/// </remarks>
public sealed partial class AwsIotMqttFake
{
    private const string PollTopic = "iotm:poll";
    private readonly AwsIotMotoBacking? _backing;
    private readonly MotoIotClient? _moto;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _poller;
    private readonly Dictionary<string, MotoPrincipal> _live = new(StringComparer.Ordinal);
    private readonly HashSet<MotoPrincipal> _closedForAuth = [];
    private readonly Dictionary<(string Thing, string Shadow), JsonObject?> _known = [];
    private readonly Dictionary<string, HashSet<string>> _watchedNamed = new(StringComparer.Ordinal);
    private readonly List<string> _refusals = [];

    /// <summary>The certificate a connection was admitted with (moto's ARN and id); compared by reference per session.</summary>
    private sealed class MotoPrincipal(string thing, string arn, string certificateId)
    {
        public string Thing { get; } = thing;

        public string Arn { get; } = arn;

        public string CertificateId { get; } = certificateId;
    }

    /// <summary>Why moto-backed connections were refused or closed, oldest first (client id and reason; never key material).</summary>
    public IReadOnlyList<string> Refusals
    {
        get { lock (_lock) return [.. _refusals]; }
    }

    private void RequireOwnShadows()
    {
        if (_moto is not null)
            throw new InvalidOperationException("This double is backed by moto: read and write shadows through moto's data plane (GetThingShadow / UpdateThingShadow).");
    }

    private void Refuse(string clientId, string reason)
    {
        lock (_lock) _refusals.Add($"{clientId}: {reason}");
    }

    private async Task<MotoPrincipal?> AuthorizeWithMotoAsync(ValidatingConnectionEventArgs e)
    {
        try
        {
            var found = await _moto!.FindAttachedAsync(e.ClientId, e.ClientCertificate!, _stopping.Token).ConfigureAwait(false);
            if (found is not { } attached)
            {
                Refuse(e.ClientId, "the certificate is not registered or not attached to the thing (or no such thing)");
                e.ReasonCode = MqttConnectReasonCode.NotAuthorized;
                return null;
            }
            if (attached.Status != "ACTIVE")
            {
                Refuse(e.ClientId, $"certificate {attached.CertificateId} is {attached.Status}");
                e.ReasonCode = MqttConnectReasonCode.NotAuthorized;
                return null;
            }
            // The baseline a fleet-side update is detected against, read before CONNACK so no update can slip between.
            await RememberShadowAsync(e.ClientId, "").ConfigureAwait(false);
            return new MotoPrincipal(e.ClientId, attached.Arn, attached.CertificateId);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            Refuse(e.ClientId, "moto did not answer: " + ex.GetType().Name);
            e.ReasonCode = MqttConnectReasonCode.ServerUnavailable;
            return null;
        }
    }

    private async Task RememberShadowAsync(string thing, string shadowName)
    {
        var answer = await _moto!.GetShadowAsync(thing, shadowName, _stopping.Token).ConfigureAwait(false);
        lock (_lock) _known[(thing, shadowName)] = answer.Ok ? answer.Body : null;
    }

    // A named shadow is watched for fleet-side updates once its client subscribes to it by name.
    private async Task OnSubscribingAsync(InterceptingSubscriptionEventArgs e)
    {
        if (_moto is null) return;
        var levels = e.TopicFilter.Topic.Split('/');
        if (levels.Length < 7 || levels[0] != "$aws" || levels[1] != "things" || levels[2] != e.ClientId || levels[3] != "shadow" || levels[4] != "name") return;
        var name = levels[5];
        if (name.Contains('+', StringComparison.Ordinal) || name.Contains('#', StringComparison.Ordinal)) return;
        bool added;
        lock (_lock)
        {
            if (!_watchedNamed.TryGetValue(e.ClientId, out var names)) _watchedNamed[e.ClientId] = names = [];
            added = names.Add(name);
        }
        if (!added) return;
        try
        {
            await RememberShadowAsync(e.ClientId, name).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            lock (_lock) _watchedNamed[e.ClientId].Remove(name); // watched from the next subscribe
        }
    }

    private async Task PollAsync()
    {
        var token = _stopping.Token;
        while (!token.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_backing!.PollInterval, _time, token).ConfigureAwait(false);
                await CheckLiveCertificatesAsync(token).ConfigureAwait(false);
                _requests.Writer.TryWrite((string.Empty, PollTopic, []));
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                // moto is slow or gone: tried again next interval.
            }
            catch (Exception ex)
            {
                // Anything else (a client gone while being disconnected, an odd moto answer) must not end the poll, or no
                // later revocation or fleet-side shadow update would reach a device for the rest of the run.
                NoteFault(ex);
            }
        }
    }

    private async Task CheckLiveCertificatesAsync(CancellationToken ct)
    {
        List<(string ClientId, MotoPrincipal Principal)> live;
        lock (_lock) live = [.. _live.Select(kv => (kv.Key, kv.Value))];
        foreach (var (clientId, principal) in live)
        {
            var description = await _moto!.DescribeCertificateAsync(principal.CertificateId, ct).ConfigureAwait(false);
            var status = (string?)description?["status"] ?? "deleted";
            string? reason = status != "ACTIVE" ? $"certificate {principal.CertificateId} became {status}" : null;
            if (reason is null)
            {
                var principals = await _moto.ListThingPrincipalsAsync(principal.Thing, ct).ConfigureAwait(false);
                if (principals is null || !principals.Contains(principal.Arn)) reason = $"certificate {principal.CertificateId} was detached from {principal.Thing}";
            }
            if (reason is null) continue;
            Refuse(clientId, reason + "; connection closed");
            lock (_lock) _closedForAuth.Add(principal);
            foreach (var client in await _server.GetClientsAsync().ConfigureAwait(false))
                if (client.Id == clientId && Presence(client.Session.Items) is { } session && ReferenceEquals(session.Principal, principal))
                    await client.DisconnectAsync(new MqttServerClientDisconnectOptions { ReasonCode = MqttDisconnectReasonCode.NotAuthorized, ReasonString = "certificate no longer active" }).ConfigureAwait(false);
        }
    }

    // Fleet-side updates: a shadow whose moto version moved past the last one seen here.
    private async Task<List<(string, JsonObject)>> PollShadowsAsync()
    {
        List<(string Thing, string Shadow)> watched;
        lock (_lock)
        {
            watched = [.. _live.Keys.Select(c => (c, ""))];
            foreach (var client in _live.Keys)
                if (_watchedNamed.TryGetValue(client, out var names)) watched.AddRange(names.Select(n => (client, n)));
        }
        var events = new List<(string, JsonObject)>();
        foreach (var (thing, shadowName) in watched)
        {
            var answer = await _moto!.GetShadowAsync(thing, shadowName, _stopping.Token).ConfigureAwait(false);
            var current = answer.Ok ? answer.Body : null;
            JsonObject? previous;
            lock (_lock)
            {
                previous = _known.GetValueOrDefault((thing, shadowName));
                if (Version(current) <= Version(previous)) continue;
                _known[(thing, shadowName)] = current;
            }
            if (current is null) continue;
            events.AddRange(ChangeEvents(Prefix(thing, shadowName), previous, current, clientToken: null, desiredTouched: !JsonNode.DeepEquals(previous?["state"]?["desired"], current["state"]?["desired"])));
        }
        return events;
    }

    private static long Version(JsonObject? doc) => doc?["version"] is JsonValue v && v.TryGetValue(out long version) ? version : 0;

    private static string Prefix(string thing, string shadowName) => ThingsPrefix + thing + "/shadow" + (shadowName.Length == 0 ? "" : "/name/" + shadowName);

    private static bool IsShadowTopic(string topic)
    {
        var levels = topic.Split('/');
        return levels.Length >= 5 && levels[3] == "shadow";
    }

    // The documents message, and a delta when desired was written and still differs from reported (moto computed it).
    private List<(string, JsonObject)> ChangeEvents(string prefix, JsonObject? previous, JsonObject current, string? clientToken, bool desiredTouched)
    {
        var now = Now();
        var documents = new JsonObject { ["previous"] = previous is null ? null : Stored(previous), ["current"] = Stored(current), ["timestamp"] = now };
        if (clientToken is not null) documents["clientToken"] = clientToken;
        var events = new List<(string, JsonObject)> { (prefix + "/update/documents", documents) };
        if (desiredTouched && current["state"]?["delta"] is JsonObject { Count: > 0 } delta)
        {
            var deltaDoc = new JsonObject { ["version"] = Version(current), ["timestamp"] = now, ["state"] = delta.DeepClone(), ["metadata"] = Metadata(delta, now) };
            if (clientToken is not null) deltaDoc["clientToken"] = clientToken;
            events.Add((prefix + "/update/delta", deltaDoc));
        }
        return events;
    }

    // A shadow as stored (documents' previous/current): state without delta, metadata, version.
    private static JsonObject Stored(JsonObject doc)
    {
        var state = doc["state"]?.DeepClone() as JsonObject ?? [];
        state.Remove("delta");
        return new JsonObject { ["state"] = state, ["metadata"] = doc["metadata"]?.DeepClone() ?? new JsonObject(), ["version"] = Version(doc) };
    }

    private async Task<List<(string, JsonObject)>> HandleMotoShadowAsync(string topic, byte[] payload)
    {
        // $aws/things/{thing}/shadow[/name/{name}]/{op}
        var levels = topic.Split('/');
        var thing = levels[2];
        var shadowName = levels.Length == 7 && levels[4] == "name" ? levels[5] : levels.Length == 5 ? "" : null;
        if (shadowName is null) return [];
        var prefix = string.Join('/', levels[..^1]);
        var op = levels[^1];
        var request = ParseObject(payload, out var invalid);
        var token = request?["clientToken"] is JsonValue tv && tv.TryGetValue<string>(out var t) ? t : null;
        List<(string, JsonObject)> Reject(string operation, int code, string message, string? clientToken) => [(prefix + "/" + operation + "/rejected", Rejected(code, message, clientToken))];
        if (op is not ("get" or "update" or "delete")) return [];
        try
        {
            if (op == "get" || op == "delete")
            {
                if (invalid) return Reject(op, 400, "Invalid JSON", null);
                var answer = op == "get" ? await _moto!.GetShadowAsync(thing, shadowName, _stopping.Token).ConfigureAwait(false)
                    : await _moto!.DeleteShadowAsync(thing, shadowName, _stopping.Token).ConfigureAwait(false);
                if (answer.Status == HttpStatusCode.NotFound) return Reject(op, 404, $"No shadow exists with name: '{(shadowName.Length == 0 ? thing : shadowName)}'", token);
                if (!answer.Ok || answer.Body is null) return Reject(op, 500, "Internal service failure", token);
                var doc = op == "get" ? answer.Body : new JsonObject { ["version"] = Version(answer.Body), ["timestamp"] = Now() };
                if (token is not null) doc["clientToken"] = token;
                if (op == "delete") lock (_lock) _known[(thing, shadowName)] = null;
                return [(prefix + "/" + op + "/accepted", doc)];
            }
            // update: the limits AWS checks before applying, as in the double's own shadows.
            if (payload.Length > MaxShadowBytes) return Reject(op, 413, "The payload exceeds the maximum size allowed", null);
            if (invalid || payload.Length == 0) return Reject(op, 400, "Invalid JSON", null);
            if (token is not null && Encoding.UTF8.GetByteCount(token) > 64) return Reject(op, 400, "clientToken must be at most 64 bytes", null);
            if (request!["state"] is not JsonObject state) return Reject(op, 400, "Missing required node: state", token);
            var before = await _moto!.GetShadowAsync(thing, shadowName, _stopping.Token).ConfigureAwait(false);
            var previous = before.Ok ? before.Body : null;
            var body = request.DeepClone().AsObject();
            if (previous is null && body["version"] is JsonNode version)
            {
                // moto fails with 500 on a version for a shadow it does not have; AWS compares with version 0.
                if (!version.AsValue().TryGetValue(out long v) || v != 0) return Reject(op, 409, "Version conflict", token);
                body.Remove("version");
            }
            var updated = await _moto.UpdateShadowAsync(thing, shadowName, Encoding.UTF8.GetBytes(body.ToJsonString()), _stopping.Token).ConfigureAwait(false);
            if (updated.Status == HttpStatusCode.Conflict) return Reject(op, 409, "Version conflict", token);
            if ((int)updated.Status is >= 400 and < 500) return Reject(op, (int)updated.Status, updated.Message, token);
            if (!updated.Ok || updated.Body is null) return Reject(op, 500, "Internal service failure", token);
            var accepted = updated.Body;
            if (token is not null) accepted["clientToken"] = token;
            var after = await _moto.GetShadowAsync(thing, shadowName, _stopping.Token).ConfigureAwait(false);
            var current = after.Ok && after.Body is not null ? after.Body : accepted;
            JsonObject? known;
            lock (_lock)
            {
                known = _known.GetValueOrDefault((thing, shadowName));
                _known[(thing, shadowName)] = current;
            }
            // A fleet-side desired write (straight to moto) that landed since the last poll is folded into this update's
            // versions, so the poll will never see it move: publish its delta here, as AWS would have on the write itself.
            // Without this a device reporting at the moment the fleet offered it firmware never heard of the offer.
            var desiredMoved = !JsonNode.DeepEquals(known?["state"]?["desired"], current["state"]?["desired"]);
            return [(prefix + "/update/accepted", accepted), .. ChangeEvents(prefix, previous, current, token, desiredTouched: state.ContainsKey("desired") || desiredMoved)];
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return Reject(op, 500, "Internal service failure", token);
        }
    }
}
