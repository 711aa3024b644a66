namespace IoTMastery.Sdk;

/// <summary>An OSV document that breaks the schema or this SDK's limits; the message names the rule and <see cref="JsonPath"/> the place.</summary>
internal sealed class OsvFormatException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    public OsvFormatException(string message, string jsonPath)
        : base($"{message} (at {jsonPath})", "document") => JsonPath = jsonPath;

    /// <summary>Where in the document the problem is, for example <c>$[0].affected[1].ranges[0].events[2]</c>.</summary>
    public string JsonPath { get; }
}
