using System.Text;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk.Aws.Tests.Faults;

/// <summary>
/// CreateCertificateFromCsr (the path without a CertificateAuthority) mints an ACTIVE certificate and returns its PEM. When that PEM
/// cannot be parsed the caller gets no usable credential, so the call must end in a typed <see cref="IoTException"/>
/// and the new certificate must not stay behind active and orphaned. moto mints the certificate; the fault proxy in
/// front of it garbles only the certificatePem of that one answer; moto then shows whether the certificate is gone.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class AwsBadCertificatePemTests(MotoServer moto) : IAsyncLifetime
{
    private FaultProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        await moto.ResetAsync();
        _proxy = FaultProxy.Start(moto.Endpoint);
    }

    public async Task DisposeAsync() => await _proxy.DisposeAsync();

    private const string MintingPath = "/certificates?";

    /// <summary>Both key algorithms the CSR path issues, each with a garbled and with a missing certificatePem.</summary>
    public static TheoryData<KeyAlgorithm, bool> Cases => new()
    {
        { KeyAlgorithm.EcdsaP256, false },
        { KeyAlgorithm.Rsa2048, false },
        { KeyAlgorithm.EcdsaP256, true },
        { KeyAlgorithm.Rsa2048, true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task An_unparsable_or_missing_certificate_pem_is_a_typed_error_and_the_new_certificate_is_deleted(KeyAlgorithm algorithm, bool removePem)
    {
        string? mintedId = null;
        _proxy.RewriteResponse = (method, target, body) =>
        {
            if (method != "POST" || !target.StartsWith(MintingPath, StringComparison.Ordinal)) return body;
            var answer = JsonNode.Parse(body)!.AsObject();
            mintedId = (string?)answer["certificateId"];
            if (removePem) answer.Remove("certificatePem");
            else answer["certificatePem"] = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
            return Encoding.UTF8.GetBytes(answer.ToJsonString());
        };
        await using var provider = await AwsIoTProvider.StartAsync(moto.Options(o =>
        {
            o.ControlPlaneEndpoint = _proxy.BaseUri;
            o.DataPlaneEndpoint = _proxy.BaseUri;
        }));
        await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "pem-dev" });
        var request = CredentialRequest.X509 with { Algorithm = algorithm };

        var error = await Assert.ThrowsAnyAsync<IoTException>(() => provider.Registry.IssueCredentialAsync("pem-dev", request));

        Assert.Equal("MalformedResponse", error.ErrorCode);
        Assert.False(error.IsTransient);
        Assert.NotNull(mintedId);
        Assert.Contains(mintedId!, error.Message, StringComparison.Ordinal);
        // Minting is not idempotent: it was sent once, never repeated.
        Assert.Single(_proxy.Seen, r => r.Method == "POST" && r.PathAndQuery.StartsWith(MintingPath, StringComparison.Ordinal));
        // moto no longer holds the certificate, and the device has no credential.
        Assert.Empty(await ListCertificateIdsAsync());
        Assert.Empty((await provider.Registry.GetAsync("pem-dev")).Credentials);
    }

    /// <summary>ListCertificates straight from moto (GET /certificates), not through the proxy.</summary>
    private async Task<List<string>> ListCertificateIdsAsync()
    {
        using var http = new HttpClient();
        var client = new AwsHttpClient(http, moto.Endpoint, "us-east-1", "iot", _ => ValueTask.FromResult(MotoServer.Credentials.GetCredentials()),
            IoTTransportOptions.DefaultRetry with { MaxRetries = 0 }, TimeProvider.System, NullLogger.Instance);
        var response = await client.SendAsync(new AwsRequest(HttpMethod.Get, "/certificates", "ListCertificates"), default);
        return (JsonNode.Parse(response.Body)!["certificates"] as JsonArray ?? []).Select(c => (string?)c!["certificateId"]).OfType<string>().ToList();
    }
}
