using System.Text.Json;
using System.Text.Json.Serialization;

namespace IoTMastery.Sdk.Cli.Cost;

/// <summary>The price data file (embedded <c>prices.json</c>, or the user's <c>--prices</c> file): versioned, every figure with its source.</summary>
internal sealed record PriceTable
{
    public required string Version { get; init; }
    public string Currency { get; init; } = "USD";
    public string? Note { get; init; }
    public required AwsPrices Aws { get; init; }
    public required AzurePrices Azure { get; init; }
    public required GcpPrices Gcp { get; init; }

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
    };

    /// <summary>The table shipped inside the tool.</summary>
    public static PriceTable Embedded()
    {
        using var stream = typeof(PriceTable).Assembly.GetManifestResourceStream("IoTMastery.Sdk.Cli.prices.json")
            ?? throw new InvalidOperationException("The embedded price table is missing from the tool.");
        return Parse(stream, "the embedded price table");
    }

    /// <summary>Reads a user's price file; a malformed file is an <see cref="ArgumentException"/> naming it.</summary>
    public static PriceTable Load(string path)
    {
        if (!File.Exists(path)) throw new ArgumentException($"--prices: the file '{path}' does not exist.", "--prices");
        using var stream = File.OpenRead(path);
        return Parse(stream, $"--prices file '{path}'");
    }

    private static PriceTable Parse(Stream stream, string what)
    {
        PriceTable? table;
        try
        {
            table = JsonSerializer.Deserialize<PriceTable>(stream, Json);
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"{what} is not a valid price table: {e.Message}", "--prices", e);
        }
        if (table is null) throw new ArgumentException($"{what} is empty.", "--prices");
        table.Validate(what);
        return table;
    }

    private void Validate(string what)
    {
        void Require(bool ok, string rule)
        {
            if (!ok) throw new ArgumentException($"{what}: {rule}.", "--prices");
        }
        Require(Aws.MessagingPerMillion is { Count: > 0 }, "aws.messagingPerMillion needs at least one tier");
        Require(Aws.MessagingPerMillion.All(t => t.Price >= 0) && Aws.MessagingPerMillion[^1].UpToMillions is null, "aws.messagingPerMillion prices must be >= 0 and the last tier open-ended (upToMillions null)");
        Require(Aws.ConnectivityPerMillionMinutes >= 0 && Aws.UnitBytes > 0, "aws.connectivityPerMillionMinutes must be >= 0 and aws.unitBytes > 0");
        Require(Azure.Tiers is { Count: > 0 } && Azure.Tiers.All(t => t.PricePerUnitMonth >= 0 && t.MessagesPerUnitDay > 0 && t.MaxUnits > 0), "azure.tiers need a price >= 0, messagesPerUnitDay > 0 and maxUnits > 0");
        Require(Azure.UnitBytes > 0, "azure.unitBytes must be > 0");
        Require(Gcp.PricePerTiB >= 0 && Gcp.FreeGiBPerMonth >= 0 && Gcp.MinimumBytesPerRequest > 0 && Gcp.PerMessageOverheadBytes >= 0, "gcp prices must be >= 0 and minimumBytesPerRequest > 0");
    }
}

internal sealed record PriceTier(long? UpToMillions, decimal Price);

internal sealed record AwsPrices
{
    public required IReadOnlyList<PriceTier> MessagingPerMillion { get; init; }
    public decimal ConnectivityPerMillionMinutes { get; init; }
    public int UnitBytes { get; init; } = 5 * 1024;
    public string? Source { get; init; }
    public string? Checked { get; init; }
    public bool Verified { get; init; }
}

internal sealed record AzureTier(string Name, decimal PricePerUnitMonth, long MessagesPerUnitDay, int MaxUnits);

internal sealed record AzurePrices
{
    public required IReadOnlyList<AzureTier> Tiers { get; init; }
    public int UnitBytes { get; init; } = 4 * 1024;
    public string? Source { get; init; }
    public string? Checked { get; init; }
    public bool Verified { get; init; }
}

internal sealed record GcpPrices
{
    public decimal PricePerTiB { get; init; }
    public decimal FreeGiBPerMonth { get; init; }
    public int MinimumBytesPerRequest { get; init; } = 1000;
    public int PerMessageOverheadBytes { get; init; }
    public string? Source { get; init; }
    public string? Checked { get; init; }
    public bool Verified { get; init; }
}
