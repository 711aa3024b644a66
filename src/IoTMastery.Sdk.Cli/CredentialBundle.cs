using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Cli;

/// <summary>
/// Writes an issued credential to <c>&lt;out&gt;/&lt;deviceId&gt;/&lt;credentialId&gt;/</c>: folders 0700, files 0600, created new
/// (never replacing a file), so the private key is readable by its owner only and is never printed.
/// </summary>
internal static class CredentialBundle
{
    /// <summary>Checked before anything is registered or rotated: the folder must be creatable and the bundle must not exist yet.</summary>
    public static void CheckTarget(string outDir, string deviceId)
    {
        if (string.IsNullOrWhiteSpace(outDir)) throw new ArgumentException("--out needs a folder.", "--out");
        var full = Path.GetFullPath(outDir);
        if (File.Exists(full)) throw new ArgumentException($"--out: '{outDir}' is a file, not a folder.", "--out");
        // Device ids were checked against the provider's rules; still refuse anything that would leave the folder.
        if (deviceId.Contains('/') || deviceId.Contains('\\') || deviceId is "." or "..")
            throw new ArgumentException($"Device id '{deviceId}' cannot name a bundle folder.", "--out");
        // Create the folder and write a probe now: once the provider has issued the credential, a folder that cannot be
        // written means a secret issued and lost.
        try
        {
            OwnerOnlyFiles.CreateFolderFor(Path.Combine(full, "probe"));
            var probe = Path.Combine(full, $".iotm-probe-{Guid.NewGuid():N}");
            using (new FileStream(probe, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Options = FileOptions.DeleteOnClose }))
            {
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"--out: cannot write credential bundles in '{outDir}': {e.Message}", "--out", e);
        }
    }

    public static string Write(string outDir, string deviceId, string provider, IssuedCredential credential)
    {
        var folder = Path.Combine(Path.GetFullPath(outDir), deviceId, SafeName(credential.Id));
        OwnerOnlyFiles.CreateFolderFor(Path.Combine(folder, "device.json"));
        var written = new List<string>();
        void Put(string name, string? text)
        {
            if (text is null) return;
            OwnerOnlyFiles.WriteNew(Path.Combine(folder, name), text);
            written.Add(name);
        }
        Put("certificate.pem", credential.CertificatePem);
        Put("private-key.pem", credential.PrivateKeyPem);
        Put("symmetric-key.txt", credential.SymmetricKey);
        Put("public-key.pem", credential.PublicKeyPem);
        var manifest = new JsonObject
        {
            ["deviceId"] = deviceId,
            ["provider"] = provider,
            ["credential"] = Views.Credential(credential.Info),
            ["files"] = new JsonArray(written.Select(f => (JsonNode)f).ToArray()),
        };
        Put("device.json", manifest.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        return folder;
    }

    // Credential ids are provider-made (certificate ids, key names); keep them to file-safe characters.
    private static string SafeName(string id) =>
        new(id.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_').ToArray());
}
