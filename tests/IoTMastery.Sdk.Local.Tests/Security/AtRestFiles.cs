using System.Security.Cryptography;
using System.Text;
using Microsoft.Data.Sqlite;

namespace IoTMastery.Sdk.Local.Tests.Security;

/// <summary>A temporary folder for a fleet database and the files beside it, and ways to look at those files as an attacker would.</summary>
internal sealed class AtRestFiles : IDisposable
{
    public const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    public const UnixFileMode OwnerOnlyFolder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    public const UnixFileMode WorldReadable = OwnerOnly | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("iotm-secrets-");

    public string Root => _root.FullName;

    public string Database => Path.Combine(Root, "fleet.db");

    public string KeyFile => Database + ".cakey";

    public IEnumerable<string> DatabaseFiles => new[] { "", "-wal", "-shm" }.Select(s => Database + s).Where(File.Exists);

    /// <summary>The bytes of a file SQLite may hold open, as anyone allowed to read it would see them.</summary>
    public static byte[] RawBytes(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    /// <summary>The needles in <paramref name="needles"/> found in the raw bytes of the database and its companions.</summary>
    public List<string> FindInDatabaseFiles(IEnumerable<string> needles)
    {
        var texts = DatabaseFiles.Select(f => (File: Path.GetFileName(f), Text: Encoding.Latin1.GetString(RawBytes(f)))).ToList();
        return needles.SelectMany(n => texts.Where(t => t.Text.Contains(n, StringComparison.Ordinal)).Select(t => $"'{n}' in {t.File}")).ToList();
    }

    /// <summary>The saved CA row, read with a fresh connection.</summary>
    public (string CertificatePem, string KeyPem) ReadCaRow()
    {
        SqliteConnection.ClearAllPools();
        using var db = new SqliteConnection($"Data Source={Database};Mode=ReadOnly;Pooling=False");
        db.Open();
        using var command = db.CreateCommand();
        command.CommandText = "SELECT certificate_pem, private_key_pem FROM certificate_authority WHERE id = 1";
        using var reader = command.ExecuteReader();
        Assert.True(reader.Read(), "the database holds no CA");
        return (reader.GetString(0), reader.GetString(1));
    }

    /// <summary>What a leaked plaintext CA key would look like: the PEM label and each base64 line of its PKCS#8 body.</summary>
    public static IEnumerable<string> PlaintextKeyNeedles(string encryptedKeyPem, string passphrase)
    {
        using var key = ECDsa.Create();
        key.ImportFromEncryptedPem(encryptedKeyPem, passphrase);
        var body = key.ExportPkcs8PrivateKeyPem().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => !l.StartsWith("-----", StringComparison.Ordinal));
        // The raw PKCS#8 DER too, in case something stored bytes rather than PEM.
        return body.Append("BEGIN PRIVATE KEY").Append(Encoding.Latin1.GetString(key.ExportPkcs8PrivateKey()));
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        _root.Delete(recursive: true);
    }
}
