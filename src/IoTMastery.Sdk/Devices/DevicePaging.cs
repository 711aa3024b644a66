using System.Runtime.CompilerServices;

namespace IoTMastery.Sdk;

/// <summary>Turns a registry's page-by-page listing into one stream; every provider's <c>ListAsync</c> uses it.</summary>
internal static class DevicePaging
{
    /// <summary>Fetches pages lazily, on enumeration, until a page has no continuation token.</summary>
    public static async IAsyncEnumerable<Device> ReadAllAsync(IDeviceRegistry registry, DeviceQuery? query,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string? token = null;
        do
        {
            var page = await registry.ListPageAsync(query, token, cancellationToken).ConfigureAwait(false);
            foreach (var device in page.Items)
                yield return device;
            token = page.ContinuationToken;
        }
        while (token is not null);
    }
}
