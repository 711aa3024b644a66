using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Aws.Tests.Moto;

/// <summary>
/// <see cref="AwsIoTOptions.Transport"/>: the user's <see cref="IoTTransportOptions.HttpHandler"/> carries every
/// control- and data-plane call to moto, and bad transport settings are refused before any network call.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class MotoTransportTests(MotoServer moto) : IAsyncLifetime
{
    public Task InitializeAsync() => moto.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Registry_and_shadow_calls_go_through_the_users_handler_which_the_provider_disposes()
    {
        var handler = new RequestRecordingHandler(new SocketsHttpHandler());
        var authority = moto.Endpoint.Authority;
        await using (var provider = await AwsIoTProvider.StartAsync(moto.Options(o => o.Transport.HttpHandler = handler)))
        {
            // Start ensures the device policy on the control plane.
            Assert.True(handler.Saw(HttpMethod.Get, authority, "/policies/"));

            await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "via-handler" });
            Assert.Equal("via-handler", (await provider.Registry.GetAsync("via-handler")).Id);
            await provider.State.UpdateDesiredAsync("via-handler", new System.Text.Json.Nodes.JsonObject { ["mode"] = "eco" });
            await provider.Registry.DeleteAsync("via-handler");

            // CreateThing, DescribeThing, UpdateThingShadow (data plane), DeleteThing.
            Assert.Empty(handler.Unseen(authority, (HttpMethod.Post, "/things/via-handler"), (HttpMethod.Get, "/things/via-handler"),
                (HttpMethod.Post, "/things/via-handler/shadow"), (HttpMethod.Delete, "/things/via-handler")));
            Assert.All(handler.Requests, r => Assert.Equal(authority, r.Uri.Authority));
            Assert.False(handler.IsDisposed);
        }
        Assert.True(handler.IsDisposed);
        // moto agrees the calls happened: the thing is gone.
        await using var check = await AwsIoTProvider.StartAsync(moto.Options());
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => check.Registry.GetAsync("via-handler"));
    }

    public static TheoryData<string, Action<IoTTransportOptions>> BadTransport => new()
    {
        { "Transport.DevicePort", t => t.DevicePort = 0 },
        { "Transport.RequestTimeout", t => t.RequestTimeout = TimeSpan.Zero },
        { "Transport.DeviceHost", t => t.DeviceHost = "mqtts://broker:8883" },
        { "Transport.TrustedRoots", t => t.TrustedRoots = [] },
        { "Transport.MaxRetries", t => t.MaxRetries = 11 },
        { "Transport.RetryMaxDelay", t => t.RetryMaxDelay = TimeSpan.Zero },
    };

    [Theory]
    [MemberData(nameof(BadTransport))]
    public async Task A_bad_transport_setting_is_an_argument_error_naming_it_before_any_request(string member, Action<IoTTransportOptions> breakIt)
    {
        var handler = new RequestRecordingHandler(new SocketsHttpHandler());
        var error = await Assert.ThrowsAnyAsync<ArgumentException>(() => AwsIoTProvider.StartAsync(moto.Options(o =>
        {
            o.Transport.HttpHandler = handler;
            breakIt(o.Transport);
        })));
        Assert.Equal(member, error.ParamName);
        Assert.Empty(handler.Requests);
        handler.Dispose();
    }

    public static TheoryData<string, string?, bool, bool> HalfAServiceConnection => new()
    {
        // (the member named, client id, certificate given, certificate has its key)
        { "ServiceMqttCertificate", "iotm-service", false, false },
        { "ServiceMqttClientId", null, true, true },
        { "ServiceMqttCertificate", "iotm-service", true, false },
        { "ServiceMqttClientId", " ", true, true },
    };

    [Theory]
    [MemberData(nameof(HalfAServiceConnection))]
    public async Task A_service_connection_setting_without_its_pair_or_key_is_refused_before_any_request(string member, string? clientId, bool withCertificate, bool withKey)
    {
        using var rsa = System.Security.Cryptography.RSA.Create(2048);
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=iotm-service", rsa,
            System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1);
        using var withPrivateKey = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddDays(1));
        using var publicOnly = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(withPrivateKey.RawData);
        var handler = new RequestRecordingHandler(new SocketsHttpHandler());
        var error = await Assert.ThrowsAnyAsync<ArgumentException>(() => AwsIoTProvider.StartAsync(moto.Options(o =>
        {
            o.Transport.HttpHandler = handler;
            o.ServiceMqttClientId = clientId;
            o.ServiceMqttCertificate = withCertificate ? (withKey ? withPrivateKey : publicOnly) : null;
        })));
        Assert.Equal(member, error.ParamName);
        Assert.Empty(handler.Requests);
        handler.Dispose();
    }

    public static TheoryData<string, string> BadServiceCertificateFiles => new()
    {
        // (the case, the member named)
        { "certificate file missing", "ServiceMqttCertificateFile" },
        { "key file without a certificate file", "ServiceMqttPrivateKeyFile" },
        { "both the certificate and its file", "ServiceMqttCertificateFile" },
        { "file without a client id", "ServiceMqttClientId" },
        { "not PEM", "ServiceMqttCertificateFile" },
        { "certificate without its key", "ServiceMqttCertificateFile" },
        { "key of another certificate", "ServiceMqttCertificateFile" },
    };

    /// <summary>
    /// The configuration form of the service certificate (PEM files) fails as the code form does: an ArgumentException naming
    /// the option, before any request, and never quoting the files' content.
    /// </summary>
    [Theory]
    [MemberData(nameof(BadServiceCertificateFiles))]
    public async Task A_bad_service_certificate_file_is_refused_before_any_request_naming_the_option(string situation, string member)
    {
        var folder = Directory.CreateTempSubdirectory("iotm-service-pem-");
        try
        {
            static (string Certificate, string Key) NewPem(string name)
            {
                using var ecdsa = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
                var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=" + name, ecdsa, System.Security.Cryptography.HashAlgorithmName.SHA256);
                using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddDays(1));
                return (certificate.ExportCertificatePem(), ecdsa.ExportPkcs8PrivateKeyPem());
            }
            var (certificatePem, keyPem) = NewPem("iotm-service");
            var certificateFile = Path.Combine(folder.FullName, "service.pem.crt");
            var keyFile = Path.Combine(folder.FullName, "service.pem.key");
            await File.WriteAllTextAsync(certificateFile, certificatePem);
            await File.WriteAllTextAsync(keyFile, keyPem);
            using var inMemory = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(certificatePem, keyPem);
            var handler = new RequestRecordingHandler(new SocketsHttpHandler());
            var error = await Assert.ThrowsAnyAsync<ArgumentException>(() => AwsIoTProvider.StartAsync(moto.Options(o =>
            {
                o.Transport.HttpHandler = handler;
                o.ServiceMqttClientId = "iotm-service";
                o.ServiceMqttCertificateFile = certificateFile;
                o.ServiceMqttPrivateKeyFile = keyFile;
                switch (situation)
                {
                    case "certificate file missing": o.ServiceMqttCertificateFile = Path.Combine(folder.FullName, "absent.pem"); break;
                    case "key file without a certificate file": o.ServiceMqttCertificateFile = null; break;
                    case "both the certificate and its file": o.ServiceMqttCertificate = inMemory; break;
                    case "file without a client id": o.ServiceMqttClientId = null; break;
                    case "not PEM": File.WriteAllText(certificateFile, "secret-looking bytes"); o.ServiceMqttPrivateKeyFile = null; break;
                    case "certificate without its key": o.ServiceMqttPrivateKeyFile = null; break;
                    case "key of another certificate": File.WriteAllText(keyFile, NewPem("other").Key); break;
                }
            })));
            Assert.Equal(member, error.ParamName);
            Assert.Empty(handler.Requests);
            Assert.DoesNotContain("PRIVATE KEY", error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("secret-looking", error.Message, StringComparison.Ordinal);
            handler.Dispose();
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
