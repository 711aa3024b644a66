using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Cli.Cost;

namespace IoTMastery.Sdk.Cli;

internal static partial class IotmApp
{
    private static Command CostCommand(TextWriter stdout, TextWriter stderr)
    {
        var devices = new Option<long>("--devices") { Description = "fleet size", Required = true };
        var interval = new Option<string>("--interval") { Description = "one record per device every (e.g. 60s)", DefaultValueFactory = _ => "60s" };
        var recordBytes = new Option<int>("--record-bytes") { Description = "one encoded JSON record, in bytes", DefaultValueFactory = _ => 100 };
        var idLength = new Option<int>("--device-id-length") { Description = "device id length (AWS meters the topic, which holds it)", DefaultValueFactory = _ => 12 };
        var maxDelay = new Option<string?>("--max-delay") { Description = "longest a record may wait to be packed (default: fill the billing unit)" };
        var prices = new Option<string?>("--prices") { Description = "price table JSON replacing the embedded one (same shape)" };
        var cost = new Command("cost", "monthly messages, billed units and cost per cloud: one record per message versus the SDK's packing")
        {
            devices, interval, recordBytes, idLength, maxDelay, prices,
        };
        CostInput Input(ParseResult p)
        {
            var input = new CostInput
            {
                Devices = p.GetValue(devices),
                Interval = Durations.Parse(p.GetValue(interval)!, "--interval"),
                RecordBytes = p.GetValue(recordBytes),
                DeviceIdLength = p.GetValue(idLength),
                MaxDelay = p.GetValue(maxDelay) is { } d ? Durations.Parse(d, "--max-delay") : null,
            };
            input.Validate();
            return input;
        }
        SetAction(cost, stdout, stderr, false, (c, _) =>
        {
            var table = c.Parse.GetValue(prices) is { } file ? PriceTable.Load(file) : PriceTable.Embedded();
            var lines = CostModel.Compute(Input(c.Parse), table);
            var inv = CultureInfo.InvariantCulture;
            var doc = new JsonObject
            {
                ["priceTableVersion"] = table.Version,
                ["currency"] = table.Currency,
                ["monthDays"] = 30,
                ["lines"] = new JsonArray(lines.Select(l => (JsonNode)new JsonObject
                {
                    ["cloud"] = l.Cloud, ["mode"] = l.Mode, ["recordsPerMessage"] = l.RecordsPerMessage, ["messagesPerMonth"] = l.MessagesPerMonth,
                    ["billedQuantity"] = l.BilledQuantity, ["billedUnit"] = l.BilledUnit, ["monthlyCost"] = l.MonthlyCost,
                    ["addedDelaySeconds"] = l.AddedDelay.TotalSeconds, ["detail"] = l.Detail,
                }).ToArray()),
                ["sources"] = new JsonObject
                {
                    ["aws"] = $"{table.Aws.Source} (checked {table.Aws.Checked}, verified {table.Aws.Verified})",
                    ["azure"] = $"{table.Azure.Source} (checked {table.Azure.Checked}, verified {table.Azure.Verified})",
                    ["gcp"] = $"{table.Gcp.Source} (checked {table.Gcp.Checked}, verified {table.Gcp.Verified})",
                },
            };
            c.Output.Write(doc, ["cloud", "mode", "records/msg", "messages/month", "billed", $"cost/month ({table.Currency})", "added delay", "detail"],
                lines.Select(l => new[]
                {
                    l.Cloud, l.Mode, l.RecordsPerMessage.ToString(inv), l.MessagesPerMonth.ToString("N0", inv),
                    $"{l.BilledQuantity.ToString("N0", inv)} {l.BilledUnit}", l.MonthlyCost.ToString("N2", inv), l.AddedDelay.ToString("g", inv), l.Detail,
                }));
            if (!c.Output.IsJson)
                c.Output.Writer.WriteLine($"Prices: table {table.Version}; a month is 30 days; figures not verified offline are marked in the table's file (see iotm README). {table.Note}");
            return Task.FromResult(ExitCodes.Ok);
        }, p => Input(p));
        return cost;
    }
}
