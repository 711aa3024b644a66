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
            builder.Append(Uri.EscapeDataString(key));
            if (value is not null) builder.Append('=').Append(Uri.EscapeDataString(value));
        }
        return builder.ToString();
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
