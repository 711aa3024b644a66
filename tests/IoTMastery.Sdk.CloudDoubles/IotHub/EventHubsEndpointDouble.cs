using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Azure.Amqp;
using Microsoft.Azure.Amqp.Encoding;
using Microsoft.Azure.Amqp.Framing;
using Microsoft.Azure.Amqp.Sasl;
using Microsoft.Azure.Amqp.Transport;

namespace IoTMastery.Sdk.CloudDoubles.IotHub;

/// <summary>
/// The IoT Hub's built-in Event Hubs-compatible endpoint, as far as a reader of it goes: AMQP 1.0 on 127.0.0.1 without TLS (the
/// official client's <c>UseDevelopmentEmulator=true</c> mode), CBS put-token checked against the policy key, the
/// <c>$management</c> node's READ of the event hub and of a partition, and receive links on
/// <c>{hub}/ConsumerGroups/{group}/Partitions/{id}</c> honouring the client's selector filter (sequence number, offset,
/// enqueued time, <c>@latest</c>). Events are kept in memory per partition, numbered from 0 as Event Hubs numbers them.
/// Built on Microsoft.Azure.Amqp, the AMQP stack of the official Azure.Messaging.EventHubs client that the tests point at it.
/// </summary>
public sealed class EventHubsEndpointDouble : IAsyncDisposable, IRuntimeProvider
{
    /// <summary>The policy the built-in endpoint's connection string names.</summary>
    public const string PolicyName = "service";

    /// <summary>Two partitions, as a small hub has; a device's events always land on the same one.</summary>
    public static readonly string[] PartitionIds = ["0", "1"];

    // Event Hubs signs with the key's UTF-8 text, not its decoded bytes (unlike IoT Hub's own SAS).
    private static readonly string PolicyKey = Convert.ToBase64String(Enumerable.Range(50, 32).Select(i => (byte)i).ToArray());

    private static readonly Regex PartitionAddress = new("^/?(?<hub>[^/]+)/ConsumerGroups/(?<group>[^/]+)/Partitions/(?<partition>[^/]+)$", RegexOptions.Compiled | RegexOptions.IgnoreCase);
    // The 5.x client writes "amqp.annotation.x-opt-sequence-number > 1" (older ones quoted the value).
    private static readonly Regex Selector = new(@"amqp\.annotation\.(?<field>x-opt-[a-z-]+)\s*(?<op>>=|>)\s*'?(?<value>[^'\s]+)'?", RegexOptions.Compiled);

    private readonly string _eventHubName;
    private readonly DateTimeOffset _createdAt = DateTimeOffset.UtcNow;
    private readonly Partition[] _partitions;
    private readonly ConcurrentDictionary<AmqpConnection, byte> _connections = new();
    private readonly RequestNode _cbs;
    private readonly RequestNode _management;
    private AmqpTransportListener? _listener;

    private EventHubsEndpointDouble(string eventHubName)
    {
        _eventHubName = eventHubName;
        _partitions = PartitionIds.Select(id => new Partition(id)).ToArray();
        _cbs = new RequestNode(PutToken);
        _management = new RequestNode(Read);
    }

    /// <summary>The port on 127.0.0.1.</summary>
    public int Port { get; private set; }

    /// <summary>The event hub's name (the connection string's <c>EntityPath</c>).</summary>
    public string EventHubName => _eventHubName;

    /// <summary>
    /// What the portal's "Built-in endpoints" page shows, pointed at this double: <c>UseDevelopmentEmulator=true</c> makes the
    /// official client speak plain AMQP to the given port.
    /// </summary>
    public string ConnectionString =>
        $"Endpoint=sb://localhost:{Port}/;SharedAccessKeyName={PolicyName};SharedAccessKey={PolicyKey};EntityPath={_eventHubName};UseDevelopmentEmulator=true";

    /// <summary>The same endpoint with a key the double refuses, for the authorization tests.</summary>
    public string ConnectionStringWithWrongKey => ConnectionString.Replace(PolicyKey, Convert.ToBase64String(new byte[32]), StringComparison.Ordinal);

    /// <summary>CBS put-token requests refused because the token's signature, policy or audience was wrong.</summary>
    public int RefusedTokens => Volatile.Read(ref _refusedTokens);

    private int _refusedTokens;

    /// <summary>The selector filter of every receive link opened, in order ("(none)" without one).</summary>
    public ConcurrentQueue<string> ReceiverFilters { get; } = new();

    /// <summary>Starts the endpoint on a free loopback port.</summary>
    public static Task<EventHubsEndpointDouble> StartAsync(string eventHubName = "myhub")
    {
        var endpoint = new EventHubsEndpointDouble(eventHubName);
        var settings = new AmqpSettings { RuntimeProvider = endpoint };
        var sasl = new SaslTransportProvider();
        sasl.Versions.Add(new AmqpVersion(1, 0, 0));
        // The official client offers the anonymous mechanism under the name MSSBCBS and authorizes later through $cbs.
        sasl.AddHandler(new SaslAnonymousHandler("MSSBCBS"));
        sasl.AddHandler(new SaslAnonymousHandler());
        settings.TransportProviders.Add(sasl);
        var amqp = new AmqpTransportProvider();
        amqp.Versions.Add(new AmqpVersion(1, 0, 0));
        settings.TransportProviders.Add(amqp);
        // A free port picked by the OS, then handed to the AMQP listener (which does not report the port it bound).
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        var tcp = new TcpTransportSettings { Host = IPAddress.Loopback.ToString(), Port = port };
        endpoint._listener = new AmqpTransportListener([tcp.CreateListener()], settings);
        endpoint._listener.Listen(endpoint.OnAcceptTransport);
        endpoint.Port = port;
        return Task.FromResult(endpoint);
    }

    /// <summary>The partition a device's messages go to: a stable hash of its id, as the hub keeps one device on one partition.</summary>
    public static string PartitionOf(string deviceId)
    {
        uint hash = 2166136261;
        foreach (var c in deviceId) hash = (hash ^ c) * 16777619;
        return PartitionIds[hash % (uint)PartitionIds.Length];
    }

    /// <summary>
    /// Appends an event to a partition and delivers it to the receivers reading there. The sequence number, offset and
    /// enqueued time are the partition's; <paramref name="annotations"/> become message annotations (IoT Hub's system
    /// properties such as <c>iothub-connection-device-id</c>), <paramref name="properties"/> application properties.
    /// </summary>
    /// <param name="partitionId">One of <see cref="PartitionIds"/>.</param>
    /// <param name="body">The event body, as the sender wrote it.</param>
    /// <param name="properties">Application properties.</param>
    /// <param name="annotations">Message annotations (the hub's system properties).</param>
    /// <param name="contentType">The AMQP content-type (IoT Hub: the device's <c>$.ct</c>).</param>
    /// <param name="correlationId">The AMQP correlation-id (IoT Hub: the device's <c>$.cid</c>).</param>
    /// <param name="messageId">The AMQP message-id (IoT Hub: the device's <c>$.mid</c>).</param>
    /// <param name="contentEncoding">The AMQP content-encoding (IoT Hub: the device's <c>$.ce</c>).</param>
    /// <returns>The event's sequence number in its partition.</returns>
    public long Append(string partitionId, byte[] body, IReadOnlyDictionary<string, object> properties, IReadOnlyDictionary<string, object> annotations,
        string? contentType = "application/json", string? correlationId = null, string? messageId = null, string? contentEncoding = null)
    {
        var partition = _partitions.Single(p => p.Id == partitionId);
        var stored = partition.Append(body, properties, annotations, new Header(contentType, correlationId, messageId, contentEncoding));
        foreach (var reader in partition.Readers.Keys) reader.Pump();
        return stored.SequenceNumber;
    }

    /// <summary>Events held by a partition, oldest first.</summary>
    public int Count(string partitionId) => _partitions.Single(p => p.Id == partitionId).Snapshot().Length;

    private void OnAcceptTransport(TransportListener listener, TransportAsyncCallbackArgs args)
    {
        var connectionSettings = new AmqpConnectionSettings { ContainerId = "iothub-eventhubs-double", MaxFrameSize = 64 * 1024, IdleTimeOut = 4 * 60 * 1000 };
        AmqpConnection? connection = null;
        try
        {
            connection = new AmqpConnection(args.Transport, (ProtocolHeader)args.UserToken, false, _listener!.AmqpSettings, connectionSettings);
            connection.Closed += (sender, args) => _connections.TryRemove((AmqpConnection)sender!, out byte _);
            _connections[connection] = 0;
            connection.BeginOpen(AmqpConstants.DefaultTimeout, result =>
            {
                var opened = (AmqpConnection)result.AsyncState!;
                try { opened.EndOpen(result); }
                catch (Exception ex) { opened.SafeClose(ex); }
            }, connection);
        }
        catch (Exception ex)
        {
            connection?.SafeClose(ex);
        }
    }

    AmqpConnection IConnectionFactory.CreateConnection(TransportBase transport, ProtocolHeader protocolHeader, bool isInitiator, AmqpSettings amqpSettings,
        AmqpConnectionSettings connectionSettings) => new(transport, protocolHeader, isInitiator, amqpSettings, connectionSettings);

    AmqpSession ISessionFactory.CreateSession(AmqpConnection connection, AmqpSessionSettings settings) => new(connection, settings, this);

    AmqpLink ILinkFactory.CreateLink(AmqpSession session, AmqpLinkSettings settings) =>
        // Role true: the peer receives, so this end sends (and the other way round).
        settings.Role == true ? new ReceivingAmqpLink(session, settings) : new SendingAmqpLink(session, settings);

    IAsyncResult ILinkFactory.BeginOpenLink(AmqpLink link, TimeSpan timeout, AsyncCallback callback, object state)
    {
        var address = link.IsReceiver ? ((Target)link.Settings.Target).Address?.ToString() : ((Source)link.Settings.Source).Address?.ToString();
        if (address is "$cbs") _cbs.Attach(link);
        else if (address is "$management") _management.Attach(link);
        else if (!link.IsReceiver && address is not null && PartitionAddress.Match(address) is { Success: true } m)
        {
            if (!string.Equals(m.Groups["hub"].Value, _eventHubName, StringComparison.OrdinalIgnoreCase))
                throw new AmqpException(AmqpErrorCode.NotFound, $"The messaging entity '{m.Groups["hub"].Value}' could not be found.");
            var partition = _partitions.FirstOrDefault(p => p.Id == m.Groups["partition"].Value)
                ?? throw new AmqpException(AmqpErrorCode.NotFound, $"The partition '{m.Groups["partition"].Value}' does not exist.");
            var reader = new PartitionReader(partition, (SendingAmqpLink)link, StartAfter(partition, (Source)link.Settings.Source));
            partition.Readers[reader] = 0;
            link.Closed += (_, _) => partition.Readers.TryRemove(reader, out _);
            ((SendingAmqpLink)link).RegisterCreditListener((_, _, _) => reader.Pump());
        }
        else throw new AmqpException(AmqpErrorCode.NotFound, $"No node '{address}' on this endpoint.");
        return new CompletedResult(callback, state);
    }

    void ILinkFactory.EndOpenLink(IAsyncResult result)
    {
    }

    /// <summary>The sequence number a new receiver starts after, from the client's selector filter (no filter: from the start).</summary>
    private long StartAfter(Partition partition, Source source)
    {
        string? expression = null;
        if (source.FilterSet is { } filters)
            foreach (var (_, filter) in filters)
                expression = filter is DescribedType described ? described.Value?.ToString() : filter?.ToString();
        ReceiverFilters.Enqueue(expression ?? "(none)");
        if (expression is null || Selector.Match(expression) is not { Success: true } m) return -1;
        var (field, inclusive, value) = (m.Groups["field"].Value, m.Groups["op"].Value == ">=", m.Groups["value"].Value);
        var events = partition.Snapshot();
        if (value == "@latest") return events.Length - 1;
        Func<StoredEvent, bool> at = field switch
        {
            "x-opt-sequence-number" => e => inclusive ? e.SequenceNumber >= long.Parse(value, CultureInfo.InvariantCulture) : e.SequenceNumber > long.Parse(value, CultureInfo.InvariantCulture),
            "x-opt-offset" => e => inclusive ? e.Offset >= long.Parse(value, CultureInfo.InvariantCulture) : e.Offset > long.Parse(value, CultureInfo.InvariantCulture),
            "x-opt-enqueued-time" => e => inclusive
                ? e.EnqueuedTime.ToUnixTimeMilliseconds() >= long.Parse(value, CultureInfo.InvariantCulture)
                : e.EnqueuedTime.ToUnixTimeMilliseconds() > long.Parse(value, CultureInfo.InvariantCulture),
            _ => throw new AmqpException(AmqpErrorCode.NotImplemented, $"Filter on {field} is not supported by the double."),
        };
        var first = Array.FindIndex(events, e => at(e));
        return first < 0 ? events.Length - 1 : first - 1;
    }

    private AmqpMessage PutToken(AmqpMessage request)
    {
        var token = request.ValueBody?.Value as string;
        var audience = request.ApplicationProperties?.Map["name"] as string;
        var ok = token is not null && audience is not null && ValidToken(token, audience);
        if (!ok) Interlocked.Increment(ref _refusedTokens);
        return Response(ok ? 202 : 401, ok ? "Accepted" : $"InvalidSignature: the token for audience '{audience}' has an invalid signature, policy, resource or expiry.");
    }

    private bool ValidToken(string token, string? audience)
    {
        const string prefix = "SharedAccessSignature ";
        if (!token.StartsWith(prefix, StringComparison.Ordinal)) return false;
        var fields = token[prefix.Length..].Split('&').Select(p => p.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
        if (fields.GetValueOrDefault("skn") != PolicyName || !fields.TryGetValue("sr", out var sr) || !fields.TryGetValue("se", out var se) || !fields.TryGetValue("sig", out var sig))
            return false;
        var resource = WebUtility.UrlDecode(sr);
        // The token must name the audience asked for (when one is), and be signed with the policy key over "sr\nse".
        // Compared without the scheme: the client signs for sb://… or amqps://… and asks for amqp://… or the other way round.
        if (audience is not null && !WithoutScheme(audience).StartsWith(WithoutScheme(resource), StringComparison.OrdinalIgnoreCase)) return false;
        if (!long.TryParse(se, CultureInfo.InvariantCulture, out var expiry) || DateTimeOffset.FromUnixTimeSeconds(expiry) < DateTimeOffset.UtcNow) return false;
        var expected = HMACSHA256.HashData(Encoding.UTF8.GetBytes(PolicyKey), Encoding.UTF8.GetBytes(sr + "\n" + se));
        return CryptographicOperations.FixedTimeEquals(expected, Convert.FromBase64String(WebUtility.UrlDecode(sig)));
    }

    private static string WithoutScheme(string uri) => uri.IndexOf("://", StringComparison.Ordinal) is var i and >= 0 ? uri[(i + 3)..] : uri;

    private AmqpMessage Read(AmqpMessage request)
    {
        var map = request.ApplicationProperties?.Map;
        var token = map?["security_token"] as string;
        // Signature, policy and expiry; the management token's audience is the namespace or the hub, both fine here.
        if (token is null || !ValidToken(token, audience: null))
        {
            Interlocked.Increment(ref _refusedTokens);
            return Response(401, "Unauthorized: the security token is missing or invalid.");
        }
        if (map?["operation"] as string != "READ" || !string.Equals(map?["name"] as string, _eventHubName, StringComparison.OrdinalIgnoreCase))
            return Response(404, $"The messaging entity '{map?["name"]}' could not be found.");
        var body = new AmqpMap();
        switch (map!["type"] as string)
        {
            case "com.microsoft:eventhub":
                body[new MapKey("name")] = _eventHubName;
                body[new MapKey("created_at")] = _createdAt.UtcDateTime;
                body[new MapKey("partition_ids")] = PartitionIds;
                break;
            case "com.microsoft:partition":
                var partition = _partitions.FirstOrDefault(p => p.Id == map["partition"] as string);
                if (partition is null) return Response(404, $"The partition '{map["partition"]}' does not exist.");
                var events = partition.Snapshot();
                var last = events.Length == 0 ? null : events[^1];
                body[new MapKey("name")] = _eventHubName;
                body[new MapKey("partition")] = partition.Id;
                body[new MapKey("begin_sequence_number")] = 0L;
                body[new MapKey("last_enqueued_sequence_number")] = last?.SequenceNumber ?? -1L;
                body[new MapKey("last_enqueued_offset")] = (last?.Offset ?? -1L).ToString(CultureInfo.InvariantCulture);
                body[new MapKey("last_enqueued_time_utc")] = (last?.EnqueuedTime ?? DateTimeOffset.UnixEpoch).UtcDateTime;
                body[new MapKey("runtime_info_retrieval_time_utc")] = DateTime.UtcNow;
                body[new MapKey("is_partition_empty")] = last is null;
                break;
            default:
                return Response(400, $"Unknown resource type '{map["type"]}'.");
        }
        var response = AmqpMessage.Create(new AmqpValue { Value = body });
        response.ApplicationProperties.Map["status-code"] = 200;
        response.ApplicationProperties.Map["status-description"] = "OK";
        return response;
    }

    private static AmqpMessage Response(int status, string description)
    {
        var response = AmqpMessage.Create();
        response.ApplicationProperties.Map["status-code"] = status;
        response.ApplicationProperties.Map["status-description"] = description;
        return response;
    }

    /// <summary>Closes every connection and stops listening.</summary>
    public ValueTask DisposeAsync()
    {
        _listener?.Close();
        foreach (var connection in _connections.Keys) connection.SafeClose();
        return ValueTask.CompletedTask;
    }

    /// <summary>One stored event.</summary>
    private sealed record StoredEvent(long SequenceNumber, long Offset, DateTimeOffset EnqueuedTime, byte[] Body,
        IReadOnlyDictionary<string, object> Properties, IReadOnlyDictionary<string, object> Annotations, Header Header)
    {
        public AmqpMessage ToMessage()
        {
            var message = AmqpMessage.Create(new Data { Value = new ArraySegment<byte>(Body) });
            if (Header.ContentType is not null) message.Properties.ContentType = Header.ContentType;
            if (Header.CorrelationId is not null) message.Properties.CorrelationId = Header.CorrelationId;
            if (Header.MessageId is not null) message.Properties.MessageId = Header.MessageId;
            if (Header.ContentEncoding is not null) message.Properties.ContentEncoding = Header.ContentEncoding;
            foreach (var (name, value) in Properties) message.ApplicationProperties.Map[name] = value;
            foreach (var (name, value) in Annotations) message.MessageAnnotations.Map[new MapKey(new AmqpSymbol(name))] = value;
            message.MessageAnnotations.Map[new MapKey(new AmqpSymbol("x-opt-sequence-number"))] = SequenceNumber;
            message.MessageAnnotations.Map[new MapKey(new AmqpSymbol("x-opt-offset"))] = Offset.ToString(CultureInfo.InvariantCulture);
            message.MessageAnnotations.Map[new MapKey(new AmqpSymbol("x-opt-enqueued-time"))] = EnqueuedTime.UtcDateTime;
            return message;
        }
    }

    /// <summary>The AMQP properties section of an event, as far as IoT Hub fills it from a device message.</summary>
    private sealed record Header(string? ContentType, string? CorrelationId, string? MessageId, string? ContentEncoding);

    private sealed class Partition(string id)
    {
        private readonly Lock _gate = new();
        private StoredEvent[] _events = [];
        private long _nextOffset;

        public string Id { get; } = id;

        public ConcurrentDictionary<PartitionReader, byte> Readers { get; } = new();

        public StoredEvent[] Snapshot() => Volatile.Read(ref _events);

        public StoredEvent Append(byte[] body, IReadOnlyDictionary<string, object> properties, IReadOnlyDictionary<string, object> annotations, Header header)
        {
            lock (_gate)
            {
                var stored = new StoredEvent(_events.Length, _nextOffset, DateTimeOffset.UtcNow, body, properties, annotations, header);
                _nextOffset += body.Length + 100;
                _events = [.. _events, stored];
                return stored;
            }
        }
    }

    /// <summary>One receive link on a partition: sends the events after its start while the client gives credit.</summary>
    private sealed class PartitionReader(Partition partition, SendingAmqpLink link, long startAfter)
    {
        private readonly Lock _gate = new();
        private long _last = startAfter;
        private int _tag;

        public void Pump()
        {
            lock (_gate)
            {
                var events = partition.Snapshot();
                while (link.State == AmqpObjectState.Opened && link.LinkCredit > 0 && _last + 1 < events.Length)
                {
                    var message = events[_last + 1].ToMessage();
                    message.Settled = true;
                    link.SendMessageNoWait(message, new ArraySegment<byte>(BitConverter.GetBytes(Interlocked.Increment(ref _tag))), AmqpConstants.NullBinary);
                    _last++;
                }
            }
        }
    }

    /// <summary>
    /// A request/response node ($cbs, $management): requests arrive on the client's sending link, the answer goes back on the
    /// client's receiving link whose target address is the request's reply-to, correlated by the request's message id.
    /// </summary>
    private sealed class RequestNode(Func<AmqpMessage, AmqpMessage> handle)
    {
        private readonly ConcurrentDictionary<string, SendingAmqpLink> _replyLinks = new(StringComparer.Ordinal);

        public void Attach(AmqpLink link)
        {
            if (link is ReceivingAmqpLink receiver)
            {
                receiver.RegisterMessageListener(message => OnRequest(receiver, message));
                receiver.SetTotalLinkCredit(100, applyNow: true, updateAutoFlow: true);
                return;
            }
            var sender = (SendingAmqpLink)link;
            var replyTo = ((Target)sender.Settings.Target).Address?.ToString() ?? "";
            _replyLinks[replyTo] = sender;
            sender.Closed += (_, _) => _replyLinks.TryRemove(new KeyValuePair<string, SendingAmqpLink>(replyTo, sender));
        }

        private void OnRequest(ReceivingAmqpLink receiver, AmqpMessage request)
        {
            using (request)
            {
                receiver.AcceptMessage(request, settled: true, batchable: false);
                if (request.Properties?.ReplyTo?.ToString() is not { } replyTo || !_replyLinks.TryGetValue(replyTo, out var sender)) return;
                var response = handle(request);
                response.Properties.CorrelationId = request.Properties.MessageId;
                response.Settled = true;
                sender.SendMessageNoWait(response, AmqpConstants.EmptyBinary, AmqpConstants.NullBinary);
            }
        }
    }

    private sealed class CompletedResult : IAsyncResult
    {
        public CompletedResult(AsyncCallback callback, object state)
        {
            AsyncState = state;
            callback(this);
        }

        public object AsyncState { get; }

        public WaitHandle AsyncWaitHandle => throw new NotSupportedException();

        public bool CompletedSynchronously => true;

        public bool IsCompleted => true;
    }
}
