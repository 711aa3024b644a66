using System.Net.Http.Headers;
using Google.Apis.Auth.OAuth2;

namespace IoTMastery.Sdk.Gcp;

/// <summary>
/// <c>Authorization: Bearer</c> tokens from Google.Apis.Auth: application default credentials by default
/// (GOOGLE_APPLICATION_CREDENTIALS, the gcloud ADC file, then the metadata server), scoped for Pub/Sub and Cloud IoT.
/// Tokens are cached and refreshed by the library.
/// </summary>
internal sealed class GoogleOAuthAuthenticator : IGcpAuthenticator
{
    /// <summary>The scopes requested by default: cloud-platform covers Pub/Sub and Cloud IoT.</summary>
    public static readonly IReadOnlyList<string> DefaultScopes = ["https://www.googleapis.com/auth/cloud-platform"];

    private readonly Lazy<Task<ITokenAccess>> _token;

    /// <summary>Uses <paramref name="credential"/>, scoped with <paramref name="scopes"/> when it needs scopes.</summary>
    public GoogleOAuthAuthenticator(GoogleCredential credential, IEnumerable<string>? scopes = null)
    {
        ArgumentNullException.ThrowIfNull(credential);
        var scoped = credential.IsCreateScopedRequired ? credential.CreateScoped(scopes ?? DefaultScopes) : credential;
        _token = new(() => Task.FromResult<ITokenAccess>(scoped));
    }

    private GoogleOAuthAuthenticator(IEnumerable<string>? scopes)
    {
        var list = (scopes ?? DefaultScopes).ToArray();
        _token = new(async () =>
        {
            var adc = await GoogleCredential.GetApplicationDefaultAsync().ConfigureAwait(false);
            return adc.IsCreateScopedRequired ? adc.CreateScoped(list) : adc;
        });
    }

    /// <summary>Application default credentials, resolved on first use.</summary>
    public static GoogleOAuthAuthenticator FromApplicationDefault(IEnumerable<string>? scopes = null) => new(scopes);

    /// <summary>
    /// A service-account key file (the JSON the Google Cloud console hands out), read now so a bad file fails start-up,
    /// not the first call. Only the service-account type is accepted: a credential file of another type (an external
    /// account) can make the library run a command or fetch a URL named in the file, which a path from configuration must not.
    /// </summary>
    /// <exception cref="ArgumentException">The file cannot be read or is not a service-account key; the message names the path, never the key.</exception>
    public static async Task<GoogleOAuthAuthenticator> FromServiceAccountFileAsync(string path, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ServiceAccountCredential account;
        try
        {
            account = await CredentialFactory.FromFileAsync<ServiceAccountCredential>(path, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The library's message can quote the file; ours names only the path and the exception type.
            throw new ArgumentException($"ServiceAccountJsonPath '{path}' is not a readable Google service-account key file ({ex.GetType().Name}).", "ServiceAccountJsonPath");
        }
        return new GoogleOAuthAuthenticator(account.ToGoogleCredential());
    }

    /// <inheritdoc />
    public async ValueTask AuthenticateAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ITokenAccess access;
        string token;
        try
        {
            access = await _token.Value.ConfigureAwait(false);
            token = await access.GetAccessTokenForRequestAsync(request.RequestUri?.GetLeftPart(UriPartial.Authority), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidOperationException or HttpRequestException or Google.Apis.Auth.OAuth2.Responses.TokenResponseException)
        {
            // The library's message may name the key file but never the key; ours names neither.
            throw new IoTException(IoTErrorKind.Authentication, "Google credentials could not produce an access token.", "Gcp", "Unauthenticated", innerException: ex);
        }
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }
}

/// <summary>
/// A vendor's own token scheme: a fixed header (for example <c>ClearBlade-UserToken</c>) carrying a token
/// from a callback, so tokens can be rotated without rebuilding the client.
/// </summary>
internal sealed class VendorTokenAuthenticator : IGcpAuthenticator
{
    private readonly string _headerName;
    private readonly Func<CancellationToken, ValueTask<string>> _token;

    /// <summary>Creates the authenticator.</summary>
    /// <param name="headerName">The header, for example <c>ClearBlade-UserToken</c> or <c>Authorization</c>.</param>
    /// <param name="token">Returns the current token; for <c>Authorization</c> the value is sent as <c>Bearer &lt;token&gt;</c>.</param>
    public VendorTokenAuthenticator(string headerName, Func<CancellationToken, ValueTask<string>> token)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(headerName);
        ArgumentNullException.ThrowIfNull(token);
        if (headerName.Any(c => c <= ' ' || c == ':' || c > '~'))
            throw new ArgumentException("The header name must be a valid HTTP token.", nameof(headerName));
        _headerName = headerName;
        _token = token;
    }

    /// <inheritdoc />
    public async ValueTask AuthenticateAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var token = await _token(cancellationToken).ConfigureAwait(false);
        if (string.IsNullOrEmpty(token))
            throw new IoTException(IoTErrorKind.Authentication, $"The vendor token for header '{_headerName}' is empty.", "Gcp", "Unauthenticated");
        if (string.Equals(_headerName, "Authorization", StringComparison.OrdinalIgnoreCase))
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        else
            request.Headers.TryAddWithoutValidation(_headerName, token);
    }

    /// <inheritdoc />
    public override string ToString() => $"VendorTokenAuthenticator {{ Header = {_headerName}, token redacted }}";
}
