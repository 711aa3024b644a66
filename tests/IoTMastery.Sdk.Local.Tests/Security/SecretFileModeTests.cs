using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Local.Tests.Security;

/// <summary>The umask and the environment are per process: these tests change them, so they run alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessWideSettingsCollection
{
    public const string Name = "process-wide settings (umask, environment)";
}

/// <summary>
/// Issue #19: every file the Local provider writes that holds a secret — the database, its <c>-wal</c>/<c>-shm</c>
/// companions, the CA key file — is owner-only (0600, folders it creates 0700) whatever the umask, and existing files
/// that others can read are tightened on open with a warning.
/// </summary>
[Collection(ProcessWideSettingsCollection.Name)]
[UnsupportedOSPlatform("windows")]   // each mode test returns early on Windows, where files have ACLs rather than modes
public sealed class SecretFileModeTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Under_a_permissive_umask_the_database_its_companions_the_key_file_and_new_folders_are_owner_only()
    {
        if (OperatingSystem.IsWindows()) return;   // Windows has ACLs, not modes; the README says so
        using var files = new AtRestFiles();
        var database = Path.Combine(files.Root, "new", "nested", "fleet.db");
        var previous = Umask(0);
        try
        {
            await using var provider = await LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = database }).WaitAsync(Timeout);
            await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "pump-1", Credential = CredentialRequest.X509 });
            // The control: under this umask a file created the ordinary way is world-writable.
            var control = Path.Combine(files.Root, "control");
            File.WriteAllText(control, "x");
            Assert.Equal(UnixFileMode.OtherWrite, File.GetUnixFileMode(control) & UnixFileMode.OtherWrite);

            var modes = new[] { database, database + "-wal", database + "-shm", database + ".cakey" }
                .ToDictionary(f => Path.GetFileName(f), f => File.Exists(f) ? File.GetUnixFileMode(f).ToString() : "missing");
            Assert.All(modes, m => Assert.Equal(AtRestFiles.OwnerOnly.ToString(), m.Value));
            Assert.Equal(AtRestFiles.OwnerOnlyFolder, File.GetUnixFileMode(Path.Combine(files.Root, "new")));
            Assert.Equal(AtRestFiles.OwnerOnlyFolder, File.GetUnixFileMode(Path.GetDirectoryName(database)!));
        }
        finally
        {
            Umask(previous);
        }
    }

    [Fact]
    public async Task An_existing_database_and_key_file_that_others_can_read_are_tightened_on_open_with_a_warning()
    {
        if (OperatingSystem.IsWindows()) return;
        using var files = new AtRestFiles();
        var options = new LocalIoTOptions { DatabasePath = files.Database };
        await using (var provider = await LocalIoTProvider.StartAsync(options).WaitAsync(Timeout))
            await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "pump-1", Credential = CredentialRequest.X509 });
        // As an older version (or a copy with cp) left them: readable by group and others.
        foreach (var file in files.DatabaseFiles.Append(files.KeyFile))
            File.SetUnixFileMode(file, AtRestFiles.WorldReadable);

        using var logs = new CapturingLoggerFactory();
        await using (await LocalIoTProvider.StartAsync(options, loggerFactory: logs).WaitAsync(Timeout))
        {
            foreach (var file in files.DatabaseFiles.Append(files.KeyFile))
                Assert.Equal(AtRestFiles.OwnerOnly, File.GetUnixFileMode(file));
        }
        var warnings = logs.Lines.Where(l => l.StartsWith("Warning", StringComparison.Ordinal) && l.Contains("0600", StringComparison.Ordinal)).ToList();
        Assert.Contains(warnings, w => w.Contains(files.Database, StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.Contains(files.KeyFile, StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_passphrase_environment_variable_is_used_when_the_options_name_no_key()
    {
        using var files = new AtRestFiles();
        const string passphrase = "from the environment, long enough";
        var options = new LocalIoTOptions { DatabasePath = files.Database };
        Environment.SetEnvironmentVariable(LocalIoTOptions.CaKeyPassphraseEnvironmentVariable, passphrase);
        string caPem;
        try
        {
            await using (var provider = await LocalIoTProvider.StartAsync(options).WaitAsync(Timeout))
                caPem = provider.CertificateAuthority.ExportCertificatePem();
            Assert.False(File.Exists(files.KeyFile));
            var (_, keyPem) = files.ReadCaRow();
            Assert.Empty(files.FindInDatabaseFiles(AtRestFiles.PlaintextKeyNeedles(keyPem, passphrase).Append(passphrase)));

            // The options win over the environment.
            var error = await IoTAssert.ThrowsAsync(IoTErrorKind.CertificateAuthorityKey, () =>
                LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = files.Database, CaKeyPassphrase = "another passphrase here" }).WaitAsync(Timeout));
            Assert.Equal(CertificateAuthorityKey.KeyIncorrect, error.ErrorCode);

            Environment.SetEnvironmentVariable(LocalIoTOptions.CaKeyPassphraseEnvironmentVariable, "short");
            var bad = await Assert.ThrowsAnyAsync<ArgumentException>(() => LocalIoTProvider.StartAsync(options).WaitAsync(Timeout));
            Assert.Contains(LocalIoTOptions.CaKeyPassphraseEnvironmentVariable, bad.Message, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable(LocalIoTOptions.CaKeyPassphraseEnvironmentVariable, null);
        }
        await using var again = await LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = files.Database, CaKeyPassphrase = passphrase }).WaitAsync(Timeout);
        Assert.Equal(caPem, again.CertificateAuthority.ExportCertificatePem());
    }

    private static uint Umask(uint mask) => umask(mask);

    // DllImport rather than LibraryImport, which would need unsafe code in the whole test project for one blittable call.
#pragma warning disable SYSLIB1054
    [DllImport("libc", EntryPoint = "umask")]
    private static extern uint umask(uint mask);
#pragma warning restore SYSLIB1054
}
