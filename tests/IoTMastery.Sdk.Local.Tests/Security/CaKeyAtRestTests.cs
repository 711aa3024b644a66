using System.Formats.Asn1;
using System.Security.Cryptography;
using IoTMastery.Sdk.Local.Tests.Services;
using IoTMastery.Sdk.TestSupport;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;

namespace IoTMastery.Sdk.Local.Tests.Security;

/// <summary>
/// Issue #19: the CA's private key is encrypted in the database (PKCS#8, AES-256-CBC, PBKDF2-SHA256), with a random key
/// file beside the database by default or a passphrase the user gives; a wrong or missing key stops start-up and changes
/// nothing; older databases with a plaintext key are re-encrypted on open.
/// </summary>
public sealed class CaKeyAtRestTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private const string Passphrase = "correct horse battery staple";

    [Fact]
    public async Task By_default_the_ca_key_is_encrypted_with_a_random_owner_only_key_file_and_no_plaintext_key_is_on_disk()
    {
        using var files = new AtRestFiles();
        var options = new LocalIoTOptions { DatabasePath = files.Database };
        IssuedCredential credential;
        string caPem;
        await using (var provider = await LocalIoTProvider.StartAsync(options).WaitAsync(Timeout))
        {
            credential = (await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "pump-1", Credential = CredentialRequest.X509 })).Credential!;
            caPem = provider.CertificateAuthority.ExportCertificatePem();
            // While running, with the WAL and shared-memory files present.
            AssertNoPlaintextKey(files, File.ReadAllText(files.KeyFile).Trim());
        }

        var (certificatePem, keyPem) = files.ReadCaRow();
        Assert.Equal(caPem, certificatePem);
        Assert.StartsWith("-----BEGIN ENCRYPTED PRIVATE KEY-----", keyPem, StringComparison.Ordinal);
        var generated = File.ReadAllText(files.KeyFile).Trim();
        Assert.True(Convert.FromBase64String(generated).Length >= 32, "the generated key is not 256 bits of randomness");
        // A random 256-bit key needs no stretching: the lower count keeps start-up quick on a busy machine.
        Assert.Equal((10_000, HmacWithSha256, Aes256Cbc), Pbes2Parameters(keyPem));
        if (!OperatingSystem.IsWindows())
            Assert.Equal(AtRestFiles.OwnerOnly, File.GetUnixFileMode(files.KeyFile));
        AssertNoPlaintextKey(files, generated);

        // A restart finds the key file and keeps the CA: the device's certificate still connects.
        await using (var again = await LocalIoTProvider.StartAsync(options).WaitAsync(Timeout))
        {
            Assert.Equal(caPem, again.CertificateAuthority.ExportCertificatePem());
            await using var device = again.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "pump-1", Credential = credential });
            await device.ConnectAsync().WaitAsync(Timeout);
        }
        Assert.Equal(generated, File.ReadAllText(files.KeyFile).Trim());
    }

    [Fact]
    public async Task A_passphrase_from_the_options_encrypts_the_ca_key_and_no_key_file_is_written()
    {
        using var files = new AtRestFiles();
        string caPem;
        await using (var provider = await LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = files.Database, CaKeyPassphrase = Passphrase }).WaitAsync(Timeout))
        {
            await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "pump-1", Credential = CredentialRequest.X509 });
            caPem = provider.CertificateAuthority.ExportCertificatePem();
            AssertNoPlaintextKey(files, Passphrase);
        }
        Assert.False(File.Exists(files.KeyFile));
        AssertNoPlaintextKey(files, Passphrase);
        // A passphrase a person chose gets the full stretching (OWASP 2023 for PBKDF2-HMAC-SHA256).
        Assert.Equal((600_000, HmacWithSha256, Aes256Cbc), Pbes2Parameters(files.ReadCaRow().KeyPem));

        await using var again = await LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = files.Database, CaKeyPassphrase = Passphrase }).WaitAsync(Timeout);
        Assert.Equal(caPem, again.CertificateAuthority.ExportCertificatePem());
    }

    [Fact]
    public async Task A_key_file_named_in_the_options_is_created_owner_only_where_asked()
    {
        using var files = new AtRestFiles();
        var keyFile = Path.Combine(files.Root, "secrets", "ca.key");
        await using (await LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = files.Database, CaKeyFile = keyFile }).WaitAsync(Timeout)) { }
        Assert.True(File.Exists(keyFile));
        Assert.False(File.Exists(files.KeyFile));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(AtRestFiles.OwnerOnly, File.GetUnixFileMode(keyFile));
            Assert.Equal(AtRestFiles.OwnerOnlyFolder, File.GetUnixFileMode(Path.GetDirectoryName(keyFile)!));
        }
        AssertNoPlaintextKey(files, File.ReadAllText(keyFile).Trim());
    }

    [Fact]
    public async Task A_wrong_passphrase_fails_start_up_with_a_typed_error_and_changes_nothing()
    {
        using var files = new AtRestFiles();
        var options = new LocalIoTOptions { DatabasePath = files.Database, CaKeyPassphrase = Passphrase };
        IssuedCredential credential;
        await using (var provider = await LocalIoTProvider.StartAsync(options).WaitAsync(Timeout))
            credential = (await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "pump-1", Credential = CredentialRequest.X509 })).Credential!;
        var before = files.ReadCaRow();

        const string wrong = "not the passphrase at all";
        var error = await IoTAssert.ThrowsAsync(IoTErrorKind.CertificateAuthorityKey, () =>
            LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = files.Database, CaKeyPassphrase = wrong }).WaitAsync(Timeout));
        Assert.Equal(CertificateAuthorityKey.KeyIncorrect, error.ErrorCode);
        Assert.False(error.IsTransient);
        Assert.Equal("Local", error.Provider);
        Assert.Contains(nameof(LocalIoTOptions.CaKeyPassphrase), error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(wrong, error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(Passphrase, error.ToString(), StringComparison.Ordinal);

        // Nothing changed: the same CA row, no key file, and the right passphrase still opens it for the old device.
        Assert.Equal(before, files.ReadCaRow());
        Assert.False(File.Exists(files.KeyFile));
        await using var again = await LocalIoTProvider.StartAsync(options).WaitAsync(Timeout);
        await using var device = again.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "pump-1", Credential = credential });
        await device.ConnectAsync().WaitAsync(Timeout);
    }

    [Fact]
    public async Task A_missing_key_file_fails_start_up_and_no_new_ca_or_key_is_made()
    {
        using var files = new AtRestFiles();
        var options = new LocalIoTOptions { DatabasePath = files.Database };
        await using (await LocalIoTProvider.StartAsync(options).WaitAsync(Timeout)) { }
        var before = files.ReadCaRow();
        var key = File.ReadAllText(files.KeyFile);
        File.Move(files.KeyFile, files.KeyFile + ".away");

        var error = await IoTAssert.ThrowsAsync(IoTErrorKind.CertificateAuthorityKey, () => LocalIoTProvider.StartAsync(options).WaitAsync(Timeout));
        Assert.Equal(CertificateAuthorityKey.KeyMissing, error.ErrorCode);
        Assert.Contains(files.KeyFile, error.Message, StringComparison.Ordinal);
        Assert.Contains(LocalIoTOptions.CaKeyPassphraseEnvironmentVariable, error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(files.KeyFile));     // never a fresh key (nor a fresh CA) in its place
        Assert.Equal(before, files.ReadCaRow());

        // The key file of another database is just a wrong key.
        using var other = new AtRestFiles();
        await using (await LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = other.Database }).WaitAsync(Timeout)) { }
        var wrongFile = await IoTAssert.ThrowsAsync(IoTErrorKind.CertificateAuthorityKey, () =>
            LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = files.Database, CaKeyFile = other.KeyFile }).WaitAsync(Timeout));
        Assert.Equal(CertificateAuthorityKey.KeyIncorrect, wrongFile.ErrorCode);
        Assert.Equal(before, files.ReadCaRow());

        File.Move(files.KeyFile + ".away", files.KeyFile);
        await using var again = await LocalIoTProvider.StartAsync(options).WaitAsync(Timeout);
        Assert.Equal(before.CertificatePem, again.CertificateAuthority.ExportCertificatePem());
        Assert.Equal(key, File.ReadAllText(files.KeyFile));
    }

    [Fact]
    public async Task A_plaintext_ca_of_an_older_database_is_re_encrypted_on_open_and_its_certificates_still_work()
    {
        using var files = new AtRestFiles();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        string plaintextKeyPem, caPem;
        IssuedCredential credential;
        // The old format: the CA row holds "-----BEGIN PRIVATE KEY-----" as the code before issue #19 wrote it.
        using (var store = LocalStore.OpenFile(files.Database))
        using (var oldCa = LocalCertificateAuthority.Create(timeProvider: time))
        {
            (caPem, plaintextKeyPem) = oldCa.ExportCertificateAndKeyPem();
            await store.WriteAsync((c, t, ct) => LocalStore.ExecuteAsync(c, t,
                "INSERT INTO certificate_authority (id, certificate_pem, private_key_pem) VALUES (1, $cert, $key)", ct,
                ("$cert", caPem), ("$key", plaintextKeyPem)), default);
            var registry = new LocalDeviceRegistry(store, oldCa, new RecordingMessageBus(), time);
            credential = (await registry.RegisterAsync(new DeviceRegistration { Id = "old-1", Credential = CredentialRequest.X509 })).Credential!;
        }
        SqliteConnection.ClearAllPools();
        var plaintextNeedles = PemBodyLines(plaintextKeyPem).Append("BEGIN PRIVATE KEY").ToList();
        Assert.NotEmpty(files.FindInDatabaseFiles(plaintextNeedles));   // the old file really holds the key in clear

        using var logs = new CapturingLoggerFactory();
        await using (var provider = await LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = files.Database }, loggerFactory: logs).WaitAsync(Timeout))
        {
            Assert.Equal(caPem, provider.CertificateAuthority.ExportCertificatePem());
            await using var device = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "old-1", Credential = credential });
            await device.ConnectAsync().WaitAsync(Timeout);
            Assert.Empty(files.FindInDatabaseFiles(plaintextNeedles));
        }
        Assert.Contains(logs.Lines, l => l.StartsWith("Warning", StringComparison.Ordinal) && l.Contains("re-encrypted", StringComparison.Ordinal));
        var (_, keyPem) = files.ReadCaRow();
        Assert.StartsWith("-----BEGIN ENCRYPTED PRIVATE KEY-----", keyPem, StringComparison.Ordinal);
        Assert.Empty(files.FindInDatabaseFiles(plaintextNeedles));
        Assert.Empty(files.FindInDatabaseFiles([File.ReadAllText(files.KeyFile).Trim()]));
    }

    [Fact]
    public async Task A_device_certificate_minted_by_a_foreign_ca_with_the_same_name_is_refused_after_a_restart()
    {
        using var files = new AtRestFiles();
        var options = new LocalIoTOptions { DatabasePath = files.Database, CaKeyPassphrase = Passphrase };
        await using (var provider = await LocalIoTProvider.StartAsync(options).WaitAsync(Timeout))
            await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "pump-1", Credential = CredentialRequest.X509 });

        await using var again = await LocalIoTProvider.StartAsync(options).WaitAsync(Timeout);
        // What an attacker without the key can do: make a CA with the same name and mint a certificate for a real device id.
        using var foreign = LocalCertificateAuthority.Create();
        Assert.Equal(again.CertificateAuthority.Subject, foreign.Certificate.Subject);
        var forged = foreign.IssueDeviceCertificate("pump-1");
        await using var device = again.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "pump-1", Credential = forged });
        var refused = await IoTAssert.ThrowsAsync(IoTErrorKind.Authentication, () => device.ConnectAsync().WaitAsync(Timeout));
        Assert.False(refused.IsTransient);
    }

    [Theory]
    [InlineData(null, "short", null, nameof(LocalIoTOptions.CaKeyPassphrase))]                 // under 12 characters
    [InlineData("fleet.db", "short", null, nameof(LocalIoTOptions.CaKeyPassphrase))]
    [InlineData("fleet.db", Passphrase, "ca.key", nameof(LocalIoTOptions.CaKeyFile))]          // both ways at once
    [InlineData(null, Passphrase, null, nameof(LocalIoTOptions.CaKeyPassphrase))]              // in memory nothing is encrypted
    [InlineData(null, null, "ca.key", nameof(LocalIoTOptions.CaKeyFile))]
    [InlineData("fleet.db", null, " ", nameof(LocalIoTOptions.CaKeyFile))]
    public async Task Bad_ca_key_settings_are_refused_before_anything_is_written(string? database, string? passphrase, string? keyFile, string name)
    {
        using var files = new AtRestFiles();
        var options = new LocalIoTOptions
        {
            DatabasePath = database is null ? null : Path.Combine(files.Root, database),
            CaKeyPassphrase = passphrase,
            CaKeyFile = keyFile is null or " " ? keyFile : Path.Combine(files.Root, keyFile),
        };
        var error = await Assert.ThrowsAnyAsync<ArgumentException>(() => LocalIoTProvider.StartAsync(options).WaitAsync(Timeout));
        Assert.Equal(name, error.ParamName);
        if (passphrase is not null)
            Assert.DoesNotContain(passphrase, error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(files.Root));
    }

    private static void AssertNoPlaintextKey(AtRestFiles files, string passphrase)
    {
        var (_, keyPem) = files.ReadCaRow();
        var found = files.FindInDatabaseFiles(AtRestFiles.PlaintextKeyNeedles(keyPem, passphrase).Append(passphrase));
        Assert.True(found.Count == 0, "plaintext secret on disk: " + string.Join(", ", found.Select(f => f.Length > 60 ? f[..60] : f)));
    }

    private const string HmacWithSha256 = "1.2.840.113549.2.9";
    private const string Aes256Cbc = "2.16.840.1.101.3.4.1.42";

    // EncryptedPrivateKeyInfo → PBES2 → (PBKDF2 salt, iterations, [key length], prf; encryption scheme), RFC 8018.
    private static (int Iterations, string Prf, string Cipher) Pbes2Parameters(string encryptedPem)
    {
        var fields = PemEncoding.Find(encryptedPem);
        Assert.Equal("ENCRYPTED PRIVATE KEY", encryptedPem[fields.Label]);
        var info = new AsnReader(Convert.FromBase64String(encryptedPem[fields.Base64Data]), AsnEncodingRules.DER).ReadSequence();
        var algorithm = info.ReadSequence();
        Assert.Equal("1.2.840.113549.1.5.13", algorithm.ReadObjectIdentifier());     // PBES2
        var pbes2 = algorithm.ReadSequence();
        var kdf = pbes2.ReadSequence();
        Assert.Equal("1.2.840.113549.1.5.12", kdf.ReadObjectIdentifier());           // PBKDF2
        var kdfParameters = kdf.ReadSequence();
        kdfParameters.ReadOctetString();
        var iterations = (int)kdfParameters.ReadInteger();
        if (kdfParameters.HasData && kdfParameters.PeekTag() == Asn1Tag.Integer)
            kdfParameters.ReadInteger();
        var prf = kdfParameters.HasData ? kdfParameters.ReadSequence().ReadObjectIdentifier() : "1.2.840.113549.2.7"; // default: HMAC-SHA1
        return (iterations, prf, pbes2.ReadSequence().ReadObjectIdentifier());
    }

    private static IEnumerable<string> PemBodyLines(string pem) =>
        pem.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(l => !l.StartsWith("-----", StringComparison.Ordinal));
}
