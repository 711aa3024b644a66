using System.Globalization;

namespace IoTMastery.Sdk.Cli;

/// <summary>Parses the durations the options take: <c>500ms</c>, <c>60s</c>, <c>5m</c>, <c>2h</c>, <c>1d</c>, or <c>hh:mm:ss</c>.</summary>
internal static class Durations
{
    public static TimeSpan Parse(string text, string option)
    {
        var t = text.Trim();
        (string Suffix, double Seconds)[] units = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)];
        foreach (var (suffix, seconds) in units)
        {
            if (t.EndsWith(suffix, StringComparison.OrdinalIgnoreCase) && !(suffix == "s" && t.EndsWith("ms", StringComparison.OrdinalIgnoreCase))
                && double.TryParse(t[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value) && value >= 0)
                return TimeSpan.FromSeconds(value * seconds);
        }
        if (TimeSpan.TryParse(t, CultureInfo.InvariantCulture, out var span) && span >= TimeSpan.Zero) return span;
        throw new ArgumentException($"{option}: '{text}' is not a duration (e.g. 500ms, 60s, 5m, 2h, 1d or 00:01:00).", option);
    }
}
