using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using IoTMastery.Sdk.Local;

namespace IoTMastery.Sdk.Benchmarks;

/// <summary>
/// `register-smoke [devices] [rounds]`: where registering a device with a certificate spends its time. First each stage
/// of issuing one certificate on one thread (the same calls <see cref="LocalCertificateAuthority.IssueDeviceCertificate"/>
/// makes, timed one by one), then whole registrations through the Local provider with a SQLite file, interleaved:
/// one by one (the baseline) and <see cref="IDeviceRegistry.RegisterManyAsync"/>. Wall time and process CPU time per
/// device, medians over the rounds, so the CPU column says what a device costs whatever the machine's load.
/// </summary>
public static class RegistrationSmoke
{
    public static async Task RunAsync(int devices, int rounds)
    {
        Console.WriteLine($"register-smoke: {devices} devices per sample, {rounds} rounds after a warm-up, {Environment.ProcessorCount} cores, load {LoadAverage()}");
        Stages(devices, rounds);
        await WholeAsync(devices, rounds).ConfigureAwait(false);
        Console.WriteLine($"load at the end: {LoadAverage()}");
    }

    private static void Stages(int devices, int rounds)
    {
        using var ca = LocalCertificateAuthority.Create();
        var (caPem, caKeyPem) = ca.ExportCertificateAndKeyPem();
        using var caWithKey = X509Certificate2.CreateFromPem(caPem, caKeyPem);
        using var caKey = caWithKey.GetECDsaPrivateKey()!;
        var subject = new X500DistinguishedName("CN=smoke-device");
        var aki = X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca.Certificate, true, false);
        var tbs = RandomNumberGenerator.GetBytes(400);
        var keys = new ECDsa[devices];
        var certs = new X509Certificate2[devices];
        var stages = new (string Name, Action<int> Run)[]
        {
            ("ECDSA P-256 key generation", i => keys[i] = ECDsa.Create(ECCurve.NamedCurves.nistP256)),
            ("CertificateRequest + extensions + CA signature (CA key loaded once)", i =>
            {
                var csr = new CertificateRequest(subject, keys[i], HashAlgorithmName.SHA256);
                csr.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
                csr.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
                csr.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
                csr.CertificateExtensions.Add(aki);
                var serial = RandomNumberGenerator.GetBytes(16);
                serial[0] &= 0x7F;
                certs[i] = csr.Create(ca.Certificate.SubjectName, X509SignatureGenerator.CreateForECDsa(caKey), DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(365), serial);
            }),
            ("  of which: device public key export (SubjectPublicKeyInfo)", i => keys[i].ExportSubjectPublicKeyInfo()),
            ("  of which: CA ECDSA signature over 400 bytes", i => caKey.SignData(tbs, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence)),
            ("  of which: loading the signed DER as X509Certificate2", i => X509CertificateLoader.LoadCertificate(certs[i].RawData).Dispose()),
            ("  of which: RawData copy", i => _ = certs[i].RawData),
            ("CA private key handle per call (GetECDsaPrivateKey)", _ => caWithKey.GetECDsaPrivateKey()!.Dispose()),
            ("authority key identifier from the CA certificate", _ => X509AuthorityKeyIdentifierExtension.CreateFromCertificate(caWithKey, true, false)),
            ("certificate PEM export", i => certs[i].ExportCertificatePem()),
            ("SHA-256 thumbprint", i => certs[i].GetCertHashString(HashAlgorithmName.SHA256)),
            ("private key PKCS#8 PEM export", i => keys[i].ExportPkcs8PrivateKeyPem()),
            ("whole IssueDeviceCertificate", _ => ca.IssueDeviceCertificate("smoke-device")),
        };
        var wall = stages.Select(_ => new List<double>()).ToArray();
        var cpu = stages.Select(_ => new List<double>()).ToArray();
        for (var round = 0; round <= rounds; round++)
        {
            for (var s = 0; s < stages.Length; s++)
            {
                var (w, c) = Time(() =>
                {
                    for (var i = 0; i < devices; i++) stages[s].Run(i);
                    return devices;
                });
                if (round == 0) continue;
                wall[s].Add(w);
                cpu[s].Add(c);
            }
            foreach (var key in keys) key.Dispose();
            foreach (var cert in certs) cert.Dispose();
        }
        Console.WriteLine();
        Console.WriteLine("Issuing one certificate, stage by stage, one thread (µs per device, medians):");
        Console.WriteLine("| stage | wall µs | CPU µs |");
        Console.WriteLine("|---|---:|---:|");
        for (var s = 0; s < stages.Length; s++)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {stages[s].Name} | {Median(wall[s]) / 1000:N1} | {Median(cpu[s]) / 1000:N1} |"));
    }

    private static async Task WholeAsync(int devices, int rounds)
    {
        var host = await FileProvider.StartAsync("register-smoke").ConfigureAwait(false);
        await using (host.ConfigureAwait(false))
        {
            var provider = host.Provider;
            {
                var run = 0;
                List<DeviceRegistration> Fleet()
                {
                    run++;
                    return Enumerable.Range(0, devices)
                        .Select(i => new DeviceRegistration { Id = string.Create(CultureInfo.InvariantCulture, $"s{run}-{i:D5}"), Credential = CredentialRequest.X509 })
                        .ToList();
                }
                var methods = new (string Name, Func<Task<int>> Run)[]
                {
                    ("RegisterAsync one by one (baseline)", async () =>
                    {
                        foreach (var registration in Fleet()) await provider.Registry.RegisterAsync(registration).ConfigureAwait(false);
                        return devices;
                    }),
                    ("Local RegisterManyAsync", async () =>
                    {
                        var result = await provider.Registry.RegisterManyAsync(Fleet()).ConfigureAwait(false);
                        return result.FirstOrDefault(i => !i.Succeeded) is { } failed ? throw new InvalidOperationException(failed.Error!.Message) : result.Count;
                    }),
                };
                var wall = methods.Select(_ => new List<double>()).ToArray();
                var cpu = methods.Select(_ => new List<double>()).ToArray();
                for (var round = 0; round <= rounds; round++)
                {
                    for (var m = 0; m < methods.Length; m++)
                    {
                        var (w, c) = await TimeAsync(methods[m].Run).ConfigureAwait(false);
                        if (round == 0) continue;
                        wall[m].Add(w);
                        cpu[m].Add(c);
                    }
                }
                Console.WriteLine();
                Console.WriteLine("Registering with a certificate, Local provider, SQLite file (per device, medians, interleaved):");
                Console.WriteLine("| method | wall µs | devices/s (wall) | CPU µs (all threads) | devices per CPU-second |");
                Console.WriteLine("|---|---:|---:|---:|---:|");
                for (var m = 0; m < methods.Length; m++)
                {
                    double w = Median(wall[m]), c = Median(cpu[m]);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"| {methods[m].Name} | {w / 1000:N1} | {1e9 / w:N0} | {c / 1000:N1} | {1e9 / c:N0} |"));
                }
            }
        }
    }

    private static (double WallNs, double CpuNs) Time(Func<int> run)
    {
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var start = Stopwatch.GetTimestamp();
        var n = run();
        var elapsed = Stopwatch.GetElapsedTime(start);
        var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu0;
        return (elapsed.TotalNanoseconds / n, cpu.TotalNanoseconds / n);
    }

    private static async Task<(double WallNs, double CpuNs)> TimeAsync(Func<Task<int>> run)
    {
        var n = 0;
        var (wall, cpu) = await SmokeClock.TimeAsync(async () => n = await run().ConfigureAwait(false)).ConfigureAwait(false);
        return (wall / n, cpu / n);
    }

    private static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

    private static string LoadAverage() => SmokeClock.Load();
}
