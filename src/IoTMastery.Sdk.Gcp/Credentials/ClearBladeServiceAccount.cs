using System.Text.Json;

namespace IoTMastery.Sdk.Gcp;

/// <summary>
/// A ClearBlade IoT Core service account: the JSON file ClearBlade's console hands out (the file the official client
/// reads from <c>CLEARBLADE_CONFIGURATION</c>). <see cref="Token"/> is a secret: it is never printed by
/// <see cref="ToString"/> nor put into exception messages.
/// </summary>
internal sealed class ClearBladeServiceAccount
{
    /// <summary>The project the service account belongs to (<c>project</c>).</summary>
    public string Project { get; init; } = "";

    /// <summary>The admin system key (<c>systemKey</c>).</summary>
    public string SystemKey { get; init; } = "";

    /// <summary>The service account's user token (<c>token</c>), sent as <c>ClearBlade-UserToken</c> to the admin host only.</summary>
    public string Token { get; init; } = "";

    /// <summary>The admin host (<c>url</c>), for example <c>https://iot.clearblade.com</c>.</summary>
    public Uri? Url { get; init; }

    /// <summary>Reads a service-account JSON file with <c>project</c>, <c>systemKey</c>, <c>token</c> and <c>url</c>.</summary>
    /// <exception cref="ArgumentException">The file is missing, is not JSON, or lacks a field; the message never holds the token.</exception>
    public static ClearBladeServiceAccount FromJsonFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"ClearBladeServiceAccountJsonPath '{path}' cannot be read: {ex.GetType().Name}.", "ClearBladeServiceAccountJsonPath", ex);
        }
        return Parse(text, $"ClearBladeServiceAccountJsonPath '{path}'");
    }

    /// <summary>Parses the service-account JSON text.</summary>
    /// <exception cref="ArgumentException">The text is not a JSON object with the four string fields; the message never holds the token.</exception>
    public static ClearBladeServiceAccount FromJson(string json) => Parse(json, "The ClearBlade service-account JSON");

    private static ClearBladeServiceAccount Parse(string json, string source)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new ArgumentException($"{source} is not a JSON object.", nameof(json));
            string Field(string name) => doc.RootElement.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";
            var url = Field("url");
            var account = new ClearBladeServiceAccount
            {
                Project = Field("project"), SystemKey = Field("systemKey"), Token = Field("token"),
                Url = Uri.TryCreate(url, UriKind.Absolute, out var u) ? u : null,
            };
            account.Validate(source);
            return account;
        }
        catch (JsonException ex)
        {
            // The parser's message can quote the text around the error, which may be the token: say only where.
            throw new ArgumentException($"{source} is not valid JSON (line {ex.LineNumber + 1}).", nameof(json));
        }
    }

    /// <summary>Checks the four fields; throws <see cref="ArgumentException"/> naming the missing or wrong one.</summary>
    public void Validate() => Validate("ClearBlade.ServiceAccount");

    private void Validate(string source)
    {
        if (string.IsNullOrEmpty(Project)) throw new ArgumentException($"{source}: 'project' is required.", nameof(Project));
        if (string.IsNullOrEmpty(SystemKey) || SystemKey.AsSpan().IndexOfAny("/?#%\\ ") >= 0)
            throw new ArgumentException($"{source}: 'systemKey' is required and must not contain '/', '?', '#', '%', '\\' or spaces.", nameof(SystemKey));
        if (string.IsNullOrEmpty(Token) || Token.AsSpan().IndexOfAny("\r\n") >= 0)
            throw new ArgumentException($"{source}: 'token' is required and must be one line.", nameof(Token));
        // The token must not travel in clear text: https, or plain http only to this machine (tests, a local proxy).
        if (Url is null || !Url.IsAbsoluteUri || !ClearBladeWire.IsAllowed(Url))
            throw new ArgumentException($"{source}: 'url' is required and must be an absolute https URL such as https://iot.clearblade.com (http only to loopback).", nameof(Url));
    }

    /// <summary>Describes the account without its token.</summary>
    public override string ToString() => $"ClearBladeServiceAccount {{ Project = {Project}, SystemKey = {SystemKey}, Url = {Url}, Token = (redacted) }}";
}
