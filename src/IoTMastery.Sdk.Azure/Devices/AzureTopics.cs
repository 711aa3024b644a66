using System.Globalization;
using System.Text;

namespace IoTMastery.Sdk.Azure;

/// <summary>IoT Hub device MQTT topics and property bags (DOCS iot-mqtt-connect-to-iot-hub).</summary>
internal static class AzureTopics
{
    public const string TwinResponseFilter = "$iothub/twin/res/#";
    public const string DesiredFilter = "$iothub/twin/PATCH/properties/desired/#";
    public const string MethodFilter = "$iothub/methods/POST/#";
    public const string TwinResponsePrefix = "$iothub/twin/res/";
    public const string DesiredPrefix = "$iothub/twin/PATCH/properties/desired/";
    public const string MethodPrefix = "$iothub/methods/POST/";

    public static string Events(string deviceId) => "devices/" + deviceId + "/messages/events/";

    public static string CloudToDeviceFilter(string deviceId) => "devices/" + deviceId + "/messages/devicebound/#";

    public static string CloudToDevicePrefix(string deviceId) => "devices/" + deviceId + "/messages/devicebound/";

    public static string TwinGet(string rid) => "$iothub/twin/GET/?$rid=" + rid;

    public static string ReportedPatch(string rid) => "$iothub/twin/PATCH/properties/reported/?$rid=" + rid;

    public static string MethodResponse(int status, string rid) => "$iothub/methods/res/" + status.ToString(System.Globalization.CultureInfo.InvariantCulture) + "/?$rid=" + rid;

    /// <summary>Encodes a property bag as the Node SDK does: <c>encodeURIComponent(key)=encodeURIComponent(value)</c> joined by <c>&amp;</c>.</summary>
    public static string EncodeBag(IEnumerable<KeyValuePair<string, string?>> properties)
    {
        var builder = new StringBuilder();
        foreach (var (key, value) in properties)
        {
            if (builder.Length > 0) builder.Append('&');
            builder.Append(UriComponent.Encode(key));
            if (value is not null) builder.Append('=').Append(UriComponent.Encode(value));
        }
        return builder.ToString();
    }

    /// <summary>Splits a response topic <c>{prefix}{status}/?{query}</c>; false when <paramref name="topic"/> is not that shape.</summary>
    public static bool TryParseResponse(string topic, string prefix, out int status, out Dictionary<string, string?> query)
    {
        status = 0;
        query = [];
        // A '#' filter also matches the bare parent topic, which is shorter than the prefix.
        if (!topic.StartsWith(prefix, StringComparison.Ordinal)) return false;
        var rest = topic[prefix.Length..];
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0 || !int.TryParse(rest[..slash], NumberStyles.None, CultureInfo.InvariantCulture, out status)) return false;
        query = DecodeBag(rest[(slash + 1)..]);
        return true;
    }

    /// <summary>Splits a method request topic <c>$iothub/methods/POST/{name}/?$rid={rid}</c>; false when it is not that shape.</summary>
    public static bool TryParseMethodRequest(string topic, out string name, out string rid)
    {
        name = rid = "";
        if (!topic.StartsWith(MethodPrefix, StringComparison.Ordinal)) return false;
        var rest = topic[MethodPrefix.Length..];
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || DecodeBag(rest[(slash + 1)..]).GetValueOrDefault("$rid") is not { } requestId) return false;
        name = Uri.UnescapeDataString(rest[..slash]);
        rid = requestId;
        return true;
    }

    /// <summary>The property bag of a cloud-to-device topic <c>devices/{id}/messages/devicebound/{bag}</c>; empty for any other topic.</summary>
    public static Dictionary<string, string?> CloudToDeviceProperties(string topic, string deviceId)
    {
        var prefix = CloudToDevicePrefix(deviceId);
        return DecodeBag(topic.StartsWith(prefix, StringComparison.Ordinal) ? topic[prefix.Length..] : "");
    }

    /// <summary>Parses a property bag or query (<c>a=1&amp;b</c>); a key without <c>=</c> has a null value.</summary>
    public static Dictionary<string, string?> DecodeBag(string bag)
    {
        var result = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var pair in bag.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq < 0) result[Uri.UnescapeDataString(pair)] = null;
            else result[Uri.UnescapeDataString(pair[..eq])] = Uri.UnescapeDataString(pair[(eq + 1)..]);
        }
        return result;
    }
}
