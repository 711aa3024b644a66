namespace IoTMastery.Sdk.Contract.Tests.Docs;

/// <summary>
/// The README's "What works today" table may mark a capability ✅ for a provider only where the contract classes that
/// prove that row are bound for that provider (in <c>Providers/</c>). CI running this suite proves the bound classes are
/// green; this test proves the ✅ cells are backed by bound classes at all.
/// </summary>
public sealed class ReadmeCapabilityTableTests
{
    private const string ProvidersNamespace = "IoTMastery.Sdk.Contract.Tests.Providers";

    /// <summary>The table's provider columns and the fixture each provider's bindings use.</summary>
    private static readonly Dictionary<string, Type> Columns = new(StringComparer.Ordinal)
    {
        ["Local"] = typeof(LocalFixture),
        ["AWS IoT Core"] = typeof(AwsFixture),
        ["Azure IoT Hub"] = typeof(AzureFixture),
        ["GCP-style"] = typeof(GcpFixture),
    };

    /// <summary>
    /// Row (its first cell, exactly) → the contract classes (generic definitions, by name) that prove it. Named rather than
    /// typed so a row can name a contract still being written (see NotYetWritten): until the class exists, that row is not
    /// checked; once it does, it is.
    /// </summary>
    private static readonly Dictionary<string, string[]> Proofs = new(StringComparer.Ordinal)
    {
        ["Registry: register, get, list with paging, attributes, enable/disable, delete"] = ["RegistryContract"],
        ["Bulk registration with per-device results (`RegisterManyAsync`)"] = ["RegistryContract"],
        ["Credentials"] = ["CredentialsContract"],
        ["Rotate / revoke"] = ["CredentialEnforcementContract", "LiveRevocationContract"],
        ["Device connection (MQTT, TLS 1.2+)"] = ["CredentialsContract", "ConnectionLifecycleContract"],
        ["Telemetry through the batching core"] = ["TelemetryContract"],
        ["Telemetry consumption"] = ["TelemetryContract"],
        ["Commands with replies and timeouts"] = ["CommandsContract", "OfflineCommandContract"],
        ["Desired/reported state with versions"] = ["StateVersionContract", "StateDeliveryContract"],
        ["Firmware rollouts (waves, thresholds, rollback; durable: a new process on the same store resumes)"] = ["FirmwareContract"],
        ["Presence: connected, since, last activity; fleet query; connect/disconnect events"] = ["PresenceContract"],
        ["Signed firmware manifests (ECDSA P-256), verified by the device agent"] = ["FirmwareContract"],
        ["Security patching (advisories, compliance)"] = ["PatchingContract"],
        ["Minimum firmware version (flag; opt in: disable, or restrict to firmware-update traffic)"] = ["MinimumVersionContract"],
        // Provider-neutral core features (the outbox and the alert evaluator live in IoTMastery.Sdk and are tested there);
        // no contract class proves them per provider yet, so nothing here can back or refute their ✅.
        ["Durable telemetry outbox (survives crashes and outages)"] = [],
        ["Threshold alerts with hysteresis"] = [],
    };

    /// <summary>Contracts still being written; a row naming only these is skipped while they are missing (none today).</summary>
    private static readonly HashSet<string> NotYetWritten = [];

    /// <summary>
    /// ✅ cells owned by work in progress and not yet backed (empty now: the AWS gateway double binds the AWS credential and
    /// state contracts). The test fails once an entry is no longer needed, so none outlives its reason.
    /// </summary>
    private static readonly HashSet<(string Row, string Column)> PendingElsewhere = [];

    [Fact]
    public void Every_tick_in_the_capability_table_is_backed_by_bound_contracts()
    {
        var (columns, rows) = ReadTable();
        Assert.Equal(["capability", .. Columns.Keys], columns);
        var problems = new List<string>();
        var stillPending = new List<(string, string)>();

        foreach (var row in rows)
        {
            var capability = row[0];
            if (!Proofs.TryGetValue(capability, out var proofNames))
            {
                problems.Add($"row '{capability}' is not in the test's row → contract map; add it with the contracts that prove it");
                continue;
            }
            var contracts = proofNames.Select(name => (name, type: FindContract(name))).ToList();
            var unknown = contracts.Where(c => c.type is null && !NotYetWritten.Contains(c.name)).Select(c => c.name).ToList();
            if (unknown.Count > 0)
            {
                problems.Add($"row '{capability}' names contracts that do not exist: {string.Join(", ", unknown)}");
                continue;
            }
            if (contracts.Any(c => c.type is null)) continue; // A contract in NotYetWritten: checked once it exists.

            for (var i = 1; i < row.Length; i++)
            {
                var column = columns[i];
                var fixture = Columns[column];
                var ticked = row[i].Contains('✅', StringComparison.Ordinal);
                var missing = contracts.Where(c => !IsBound(c.type!, fixture)).Select(c => c.name).ToList();
                var pending = PendingElsewhere.Contains((capability, column));
                if (pending && (!ticked || missing.Count == 0)) stillPending.Add((capability, column));
                else if (ticked && missing.Count > 0 && !pending)
                    problems.Add($"'{capability}' is ✅ for {column}, but {string.Join(", ", missing)} is not bound for it in Providers/");
            }
        }

        foreach (var (capability, column) in stillPending)
            problems.Add($"the pending exemption ('{capability}', {column}) is no longer needed: remove it from PendingElsewhere");
        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
    }

    [Fact]
    public void The_check_itself_sees_bindings_and_their_absence()
    {
        // Guards the reflection the table check relies on: a vacuous IsBound would let every ✅ pass.
        Assert.True(IsBound(FindContract("LiveRevocationContract")!, typeof(LocalFixture)));
        Assert.False(IsBound(FindContract("RegistryVersionContract")!, typeof(AwsFixture)));
        Assert.NotEmpty(ReadTable().Rows);
    }

    private static Type? FindContract(string name) =>
        typeof(ContractBase<>).Assembly.GetTypes().SingleOrDefault(t => t.IsAbstract && t.IsGenericTypeDefinition && t.Name == name + "`1");

    private static bool IsBound(Type contract, Type fixture) =>
        typeof(ContractBase<>).Assembly.GetTypes().Any(t =>
            t is { IsAbstract: false, IsClass: true } && t.Namespace == ProvidersNamespace
            && t.BaseType is { IsGenericType: true } b && b.GetGenericTypeDefinition() == contract && b.GetGenericArguments()[0] == fixture);

    private static (string[] Columns, List<string[]> Rows) ReadTable()
    {
        var readme = File.ReadAllLines(Path.Combine(RepositoryRoot(), "README.md"));
        var start = Array.FindIndex(readme, l => l.Trim() == "## What works today");
        Assert.True(start >= 0, "README.md has no '## What works today' section");
        var table = readme.Skip(start + 1).SkipWhile(l => !l.StartsWith('|')).TakeWhile(l => l.StartsWith('|')).Select(Cells).ToList();
        Assert.True(table.Count > 2, "the 'What works today' table is missing");
        var columns = table[0];
        var rows = table.Skip(2).ToList();
        foreach (var row in rows) Assert.True(row.Length == columns.Length, $"row '{row[0]}' has {row.Length} cells, the header {columns.Length}");
        return (columns, rows);
    }

    private static string[] Cells(string line) => line.Trim().Trim('|').Split('|').Select(c => c.Trim()).ToArray();

    // The repository's own README, found from the test binary upwards; nothing outside the clone is read.
    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "IoTMastery.Sdk.sln"))) return dir.FullName;
        throw new InvalidOperationException("IoTMastery.Sdk.sln not found above " + AppContext.BaseDirectory);
    }
}
