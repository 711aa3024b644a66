using System.Globalization;

namespace IoTMastery.Sdk.Analytics;

/// <summary>The lake's object names: Hive-style partitions of the device timestamp in UTC, and a file name from a source position.</summary>
internal static class LakeKeys
{
    /// <summary>The UTC hour a record belongs to, as whole hours since 0001-01-01.</summary>
    public static long HourOf(DateTimeOffset timestamp) => timestamp.UtcTicks / TimeSpan.TicksPerHour;

    /// <summary>
    /// <c>date=YYYY-MM-DD/hour=HH/part-{position:D20}.parquet</c>: the same partition and first position always give the
    /// same key, which is what lets a replay after a crash replace a file instead of adding a second copy.
    /// </summary>
    public static string Key(long hour, long firstPosition)
    {
        var start = new DateTime(hour * TimeSpan.TicksPerHour, DateTimeKind.Utc);
        return string.Create(CultureInfo.InvariantCulture,
            $"date={start:yyyy-MM-dd}/hour={start:HH}/part-{firstPosition:D20}.parquet");
    }

    /// <summary>Checks a key a sink was handed: relative, no empty, dot or dot-dot segments, no backslashes.</summary>
    /// <exception cref="ArgumentException">The key could escape the sink's root or is not a plain relative path.</exception>
    public static void Validate(string key, string parameterName)
    {
        ArgumentException.ThrowIfNullOrEmpty(key, parameterName);
        if (key.Length > 900)
            throw new ArgumentException($"A lake key is at most 900 characters; got {key.Length}.", parameterName);
        if (key.Contains('\\') || key.StartsWith('/') || key.Contains('\0'))
            throw new ArgumentException("A lake key is a relative path with '/' separators, no leading '/', backslash or NUL.", parameterName);
        foreach (var segment in key.Split('/'))
            if (segment is "" or "." or "..")
                throw new ArgumentException("A lake key may not contain empty, '.' or '..' segments.", parameterName);
    }
}
