using Azure.Core;

namespace IoTMastery.Sdk.Azure;

/// <summary>Produces the <c>Authorization</c> header value for service REST calls.</summary>
internal interface IServiceAuthorization
{
    ValueTask<string> GetAuthorizationAsync(CancellationToken cancellationToken);
}

/// <summary>SAS tokens signed with a shared access policy key, cached and renewed when 15% of their lifetime remains.</summary>
internal sealed class SasServiceAuthorization : IServiceAuthorization
{
    private readonly string _hostName;
    private readonly string _policy;
    private readonly string _key;
    private readonly TimeSpan _ttl;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private (string Token, DateTimeOffset RenewAt)? _current;

    public SasServiceAuthorization(string hostName, string policy, string key, TimeSpan ttl, TimeProvider time)
    {
        SasToken.DecodeKey(key, nameof(key));
        _hostName = hostName;
        _policy = policy;
        _key = key;
        _ttl = ttl;
        _time = time;
    }

    public ValueTask<string> GetAuthorizationAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            if (_current is not { } current || now >= current.RenewAt)
            {
                var expiry = now + _ttl;
                _current = current = (SasToken.Create(_hostName, _key, expiry, _policy), expiry - _ttl * 0.15);
            }
            return ValueTask.FromResult(current.Token);
        }
    }
}

/// <summary>A fixed SAS token from a connection string's <c>SharedAccessSignature</c>; renewing it is the caller's job.</summary>
internal sealed class FixedSasAuthorization(string token) : IServiceAuthorization
{
    public ValueTask<string> GetAuthorizationAsync(CancellationToken cancellationToken) => ValueTask.FromResult(token);
}

/// <summary>Microsoft Entra ID bearer tokens for scope <c>https://iothubs.azure.net/.default</c>, refreshed when less than 10 minutes remain.</summary>
internal sealed class EntraServiceAuthorization(TokenCredential credential, TimeProvider time) : IServiceAuthorization
{
    internal static readonly string[] Scopes = ["https://iothubs.azure.net/.default"];
    private readonly SemaphoreSlim _gate = new(1, 1);
    private AccessToken? _token;

    public async ValueTask<string> GetAuthorizationAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_token is not { } token || token.ExpiresOn - time.GetUtcNow() < TimeSpan.FromMinutes(10))
            {
                token = await credential.GetTokenAsync(new TokenRequestContext(Scopes), cancellationToken).ConfigureAwait(false);
                _token = token;
            }
            return "Bearer " + token.Token;
        }
        finally
        {
            _gate.Release();
        }
    }
}
