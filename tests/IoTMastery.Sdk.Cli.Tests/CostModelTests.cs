using IoTMastery.Sdk.Cli.Cost;

namespace IoTMastery.Sdk.Cli.Tests;

/// <summary>
/// The cost arithmetic against figures worked out by hand (50,000 devices, one 100-byte record a minute, 12-character ids,
/// a 30-day month: 43,200 records per device, 2,160,000,000 records in all).
/// </summary>
public class CostModelTests
{
    private static readonly PriceTable Prices = PriceTable.Embedded();

    private static CostLine Line(IReadOnlyList<CostLine> lines, string cloud, bool packed) =>
        lines.Single(l => l.Cloud == cloud && (l.Mode == "packed") == packed);

    private static IReadOnlyList<CostLine> Fleet(TimeSpan? maxDelay = null) => CostModel.Compute(new CostInput
    {
        Devices = 50_000, Interval = TimeSpan.FromSeconds(60), RecordBytes = 100, DeviceIdLength = 12, MaxDelay = maxDelay,
    }, Prices);

    [Fact]
    public void Aws_one_record_per_message_meters_every_record_as_a_5KB_message_on_the_tiered_price()
    {
        var aws = Line(Fleet(), "aws", packed: false);
        Assert.Equal(1, aws.RecordsPerMessage);
        Assert.Equal(2_160_000_000, aws.MessagesPerMonth);
        Assert.Equal(2_160_000_000, aws.BilledQuantity);
        // 1,000 M x $1.00 + 1,160 M x $0.80 = 1,928.00; connectivity 2,160,000,000 minutes x $0.08 / M = 172.80.
        Assert.Equal(2100.80m, aws.MonthlyCost);
    }

    [Fact]
    public void Aws_packing_fills_a_5KB_unit_counting_the_topic()
    {
        var aws = Line(Fleet(), "aws", packed: true);
        // Topic "iotmastery/" + 12 + "/telemetry" = 33 bytes; [r,r,...] = 101n + 1; 101n + 34 <= 5120 gives n = 50.
        Assert.Equal(50, aws.RecordsPerMessage);
        Assert.Equal(43_200_000, aws.MessagesPerMonth); // 864 per device
        Assert.Equal(43_200_000, aws.BilledQuantity);
        Assert.Equal(43.20m + 172.80m, aws.MonthlyCost);
        Assert.Equal(TimeSpan.FromMinutes(49), aws.AddedDelay);
    }

    [Fact]
    public void Azure_picks_the_cheapest_tier_for_the_daily_4KB_messages()
    {
        var lines = Fleet();
        var single = Line(lines, "azure", packed: false);
        // 72,000,000 messages a day: 180 x S1 = 4,500; 12 x S2 = 3,000; 1 x S3 = 2,500.
        Assert.Equal(2500m, single.MonthlyCost);
        Assert.Contains("1 x S3", single.Detail, StringComparison.Ordinal);

        var packed = Line(lines, "azure", packed: true);
        // Metered overhead 53 bytes; 101n + 54 <= 4096 gives n = 40; 1,080 messages per device, 1,800,000 a day: 5 x S1.
        Assert.Equal(40, packed.RecordsPerMessage);
        Assert.Equal(54_000_000, packed.MessagesPerMonth);
        Assert.Equal(125m, packed.MonthlyCost);
    }

    [Fact]
    public void PubSub_bills_at_least_1000_bytes_per_request_and_packing_fills_that_minimum()
    {
        var lines = Fleet();
        var single = Line(lines, "gcp", packed: false);
        // Every request is billed 1,000 bytes: 2.16e12 bytes, less 10 GiB free, at $40 per TiB.
        Assert.Equal(2_160_000_000_000, single.BilledQuantity);
        Assert.Equal(78.19m, single.MonthlyCost); // (2.16e12 - 10,737,418,240) / 2^40 x 40 = 78.1894...

        var packed = Line(lines, "gcp", packed: true);
        // 101n + 1 + 36 <= 1000 gives n = 9: 4,800 requests per device of 946 bytes, each billed 1,000.
        Assert.Equal(9, packed.RecordsPerMessage);
        Assert.Equal(240_000_000, packed.MessagesPerMonth);
        Assert.Equal(240_000_000_000, packed.BilledQuantity);
        Assert.Equal(8.34m, packed.MonthlyCost); // (2.4e11 - 10,737,418,240) / 2^40 x 40 = 8.3406...
    }

    [Fact]
    public void Max_delay_caps_how_many_records_wait_for_one_message()
    {
        var aws = Line(Fleet(TimeSpan.FromMinutes(4)), "aws", packed: true);
        // Records every minute, at most 4 minutes of waiting: 5 records per message, 8,640 messages per device.
        Assert.Equal(5, aws.RecordsPerMessage);
        Assert.Equal(432_000_000, aws.MessagesPerMonth);
    }

    [Fact]
    public void A_partial_last_message_is_metered_on_its_own_size()
    {
        // 1 device, one 100-byte record every 7 s: 370,285 records a month (2,592,000 / 7, rounded down); 50 per message
        // gives 7,405 full messages and one of 35 records: 7,406 messages, each one 5 KB unit.
        var aws = CostModel.Compute(new CostInput { Devices = 1, Interval = TimeSpan.FromSeconds(7), RecordBytes = 100 }, Prices)
            .Single(l => l.Cloud == "aws" && l.Mode == "packed");
        Assert.Equal(7_406, aws.MessagesPerMonth);
        Assert.Equal(7_406, aws.BilledQuantity);
    }

    [Theory]
    [InlineData(0, 60, 100, "--devices")]
    [InlineData(10, 0, 100, "--interval")]
    [InlineData(10, 60, 0, "--record-bytes")]
    [InlineData(10, 60, 70_000, "--record-bytes")]
    public void Bad_input_is_refused_naming_the_option(long devices, int intervalSeconds, int recordBytes, string option)
    {
        var e = Assert.Throws<ArgumentException>(() => CostModel.Compute(new CostInput
        {
            Devices = devices, Interval = TimeSpan.FromSeconds(intervalSeconds), RecordBytes = recordBytes,
        }, Prices));
        Assert.Equal(option, e.ParamName);
    }

    [Fact]
    public void Every_figure_in_the_embedded_table_names_its_source_and_date()
    {
        Assert.False(string.IsNullOrWhiteSpace(Prices.Version));
        foreach (var (source, date) in new[] { (Prices.Aws.Source, Prices.Aws.Checked), (Prices.Azure.Source, Prices.Azure.Checked), (Prices.Gcp.Source, Prices.Gcp.Checked) })
        {
            Assert.StartsWith("https://", source, StringComparison.Ordinal);
            Assert.Matches(@"^\d{4}-\d{2}-\d{2}$", date);
        }
    }
}
