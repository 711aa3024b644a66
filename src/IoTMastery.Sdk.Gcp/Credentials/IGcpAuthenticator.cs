namespace IoTMastery.Sdk.Gcp;

/// <summary>
/// Adds credentials to an outgoing REST request. Google OAuth2 (<see cref="GoogleOAuthAuthenticator"/>),
/// a vendor's token header (<see cref="VendorTokenAuthenticator"/>) or none (<see cref="NoAuthenticator"/>, emulators).
/// Internal: the options infer one from what is given (see <see cref="GcpIoTOptions"/>), so the kinds can change without a break.
/// </summary>
internal interface IGcpAuthenticator
{
    /// <summary>Sets the request's credential headers. Never logs the credential.</summary>
    ValueTask AuthenticateAsync(HttpRequestMessage request, CancellationToken cancellationToken);
}

/// <summary>Sends no credentials: for the Pub/Sub emulator and loopback test servers.</summary>
internal sealed class NoAuthenticator : IGcpAuthenticator
{
    /// <summary>The shared instance.</summary>
    public static NoAuthenticator Instance { get; } = new();

    private NoAuthenticator() { }

    /// <inheritdoc />
    public ValueTask AuthenticateAsync(HttpRequestMessage request, CancellationToken cancellationToken) => default;
}
