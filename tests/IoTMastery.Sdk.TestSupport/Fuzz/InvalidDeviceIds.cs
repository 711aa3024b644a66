namespace IoTMastery.Sdk.TestSupport.Fuzz;

/// <summary>A corpus of device ids a provider's <see cref="DeviceIdRules"/> must refuse, and a check that its registry refuses them before any I/O.</summary>
public static class InvalidDeviceIds
{
    private static readonly string[] Candidates =
    [
        "", " ", "  dev-1", "dev-1 ", "dev 1", "a/b", "a\\b", "dev#1", "dev+1", "dev?1", "dev&x=1", "dev%2F1", "../etc", "..", "$fleet", "#", "+",
        "\0", "dev\0", "dev\n1", "dev\r\n", "dev\t1", "dév-1", "设备", "dev-\uD800", "\uFEFFdev", "dev\u200B1", "<script>", "'; DROP TABLE devices;--",
        "ab", "1abc", "-dev", "_dev", "a", new string('a', 129), new string('a', 256), new string('a', 100_000), "dev\"1", "dev{1}", "dev|1",
    ];

    /// <summary>The candidates <paramref name="rules"/> rejects; the corpus is built so each provider rejects most of them.</summary>
    public static IReadOnlyList<string> For(DeviceIdRules rules) => [.. Candidates.Where(id => !rules.IsValid(id))];

    /// <summary>
    /// Calls each registry operation with every invalid id against a registry whose endpoints are unreachable (a closed
    /// loopback port): a rejection before I/O is an <see cref="ArgumentException"/>; anything else (a connection error,
    /// an IoTException, a hang) means the id reached the wire. Returns the failures.
    /// </summary>
    public static async Task<List<string>> RejectedBeforeIoAsync(IDeviceRegistry registry, DeviceIdRules rules)
    {
        var failures = new List<string>();
        var ids = For(rules);
        if (ids.Count < 20) failures.Add($"only {ids.Count} invalid ids for {rules.Provider}");
        foreach (var id in ids)
        {
            Func<Task>[] calls =
            [
                () => registry.GetAsync(id),
                () => registry.DeleteAsync(id),
                () => registry.DisableAsync(id),
                () => registry.RevokeCredentialAsync(id, "cred-1"),
            ];
            foreach (var call in calls)
            {
                try
                {
                    await call().WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
                    failures.Add($"'{Show(id)}' accepted");
                }
                catch (ArgumentException)
                {
                }
                catch (Exception ex)
                {
                    failures.Add($"'{Show(id)}': {ex.GetType().Name}: {ex.Message}");
                }
            }
        }
        return failures;
    }

    private static string Show(string id) => id.Length > 40 ? id[..40] + "…" : id;
}
