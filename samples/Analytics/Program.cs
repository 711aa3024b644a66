// Streams a simulated fleet on the embedded Local provider into a Parquet lake (./lake), then asks DuckDB:
// average, min and max per device per hour, and which devices raised the most alerts.
//
//   dotnet run --project samples/Analytics                      one minute, 12 devices, into ./lake
//   dotnet run --project samples/Analytics -- --seconds 5       a short run (tests and CI use this)
//   options: --seconds N (1..3600)  --devices N (1..200)  --lake DIR
//
// Device clocks run 300x faster than the wall clock (one real second is five simulated minutes), so a one-minute run
// spans five hours of device time and the per-hour table has rows to show.
using System.Globalization;
using DuckDB.NET.Data;
using IoTMastery.Sdk;
using IoTMastery.Sdk.Analytics;
using IoTMastery.Sdk.Local;
using Spectre.Console;

const double AlertThreshold = 80.0;
const int TimeScale = 300;

int seconds = 60, devices = 12;
string lakeDirectory = Path.GetFullPath("lake");
for (int i = 0; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
    switch (args[i])
    {
        case "--seconds": seconds = int.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--devices": devices = int.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--lake": lakeDirectory = Path.GetFullPath(Next()); break;
        default:
            AnsiConsole.MarkupLine($"[red]Unknown option {Markup.Escape(args[i])}[/]; use --seconds N, --devices N, --lake DIR.");
            return 2;
    }
}
if (seconds is < 1 or > 3600 || devices is < 1 or > 200)
{
    AnsiConsole.MarkupLine("[red]--seconds must be 1..3600 and --devices 1..200.[/]");
    return 2;
}

var work = Directory.CreateTempSubdirectory("iotm-analytics-sample-");
try
{
    // The exporter spools records on disk before they reach the lake: by default in the lake's _spool folder, which
    // Spark, Hive and DuckDB's *.parquet globs skip like every '_'-prefixed folder.
    using var exporter = new TelemetryLakeExporter(ILakeSink.Directory(lakeDirectory),
        new LakeExportOptions { FlushInterval = TimeSpan.FromSeconds(5) });

    await using (var provider = await LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = Path.Combine(work.FullName, "fleet.db") }))
    {
        using var stop = new CancellationTokenSource();
        var export = exporter.RunAsync(provider.Telemetry, stop.Token);
        var fleet = new List<IDeviceConnection>();
        await AnsiConsole.Status().StartAsync($"Registering {devices} devices...", async _ =>
        {
            for (int d = 0; d < devices; d++)
            {
                string id = $"sensor-{d:D3}";
                var registration = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = id, Credential = CredentialRequest.X509 });
                var device = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = id, Credential = registration.Credential! });
                await device.ConnectAsync();
                fleet.Add(device);
            }
        });

        var started = DateTimeOffset.UtcNow;
        var deviceEpoch = new DateTimeOffset(started.Year, started.Month, started.Day, started.Hour, 0, 0, TimeSpan.Zero);
        long sent = 0;
        await AnsiConsole.Progress().StartAsync(async progress =>
        {
            var task = progress.AddTask($"Streaming {devices} devices for {seconds} s into {lakeDirectory}", maxValue: seconds);
            var random = new Random(16);
            using var tick = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
            while (DateTimeOffset.UtcNow - started < TimeSpan.FromSeconds(seconds) && await tick.WaitForNextTickAsync())
            {
                var elapsed = DateTimeOffset.UtcNow - started;
                var deviceTime = deviceEpoch + elapsed * TimeScale;
                for (int d = 0; d < fleet.Count; d++)
                {
                    // Each device has its own baseline; a few run hot and cross the alert threshold now and then.
                    double temperature = 55 + d * 2.5 + 15 * Math.Sin(elapsed.TotalSeconds / 7 + d) + random.NextDouble() * 6;
                    await fleet[d].SendTelemetryAsync(new TelemetryRecord(fleet[d].DeviceId, "temperature", Math.Round(temperature, 2), deviceTime));
                    await fleet[d].SendTelemetryAsync(new TelemetryRecord(fleet[d].DeviceId, "pressure", Math.Round(2 + random.NextDouble(), 3), deviceTime));
                    sent += 2;
                }
                task.Value = Math.Min(seconds, elapsed.TotalSeconds);
            }
            task.Value = seconds;
        });
        foreach (var device in fleet)
        {
            await device.FlushAsync();
            await device.DisposeAsync();
        }
        // Let the channel hand over what the broker accepted, then stop reading and write the rest.
        using var drained = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (exporter.RecordsExported + exporter.PendingCount < sent && !drained.IsCancellationRequested) await Task.Delay(50);
        await stop.CancelAsync();
        await export;
        AnsiConsole.MarkupLine($"Sent [bold]{sent:N0}[/] readings.");
    }
    long flushed = await exporter.ExportPendingAsync();
    AnsiConsole.MarkupLine($"Wrote [bold]{exporter.RecordsExported:N0}[/] records in {exporter.FilesWritten} Parquet files ({flushed:N0} at shutdown).");

    using var db = new DuckDBConnection("DataSource=:memory:");
    db.Open();
    string lake = $"read_parquet('{lakeDirectory.Replace("'", "''", StringComparison.Ordinal)}/**/*.parquet', hive_partitioning = true, hive_types = {{'date': DATE, 'hour': INTEGER}})";

    var perHour = new Table().Title("Temperature per device per hour (DuckDB over the lake)").Border(TableBorder.Rounded);
    foreach (var column in new[] { "device", "date", "hour", "readings", "avg °C", "min °C", "max °C" }) perHour.AddColumn(column);
    foreach (var row in Query(db, $"""
        SELECT device_id, date, hour, count(*), round(avg(value), 2), min(value), max(value)
        FROM {lake} WHERE metric = 'temperature' GROUP BY ALL ORDER BY device_id, date, hour
        """))
        perHour.AddRow(row.Select(v => Markup.Escape(v is DateOnly date ? date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) : Convert.ToString(v, CultureInfo.InvariantCulture) ?? "")).ToArray());
    AnsiConsole.Write(perHour);

    var alerts = Query(db, $"""
        SELECT device_id, count(*) AS alerts FROM {lake}
        WHERE metric = 'temperature' AND value > {AlertThreshold.ToString(CultureInfo.InvariantCulture)}
        GROUP BY device_id ORDER BY alerts DESC, device_id LIMIT 10
        """);
    var top = new Table().Title($"Devices with the most alerts (temperature > {AlertThreshold} °C)").Border(TableBorder.Rounded);
    top.AddColumn("device").AddColumn("alerts");
    var chart = new BarChart().Label("[bold]alerts per device[/]").Width(70);
    foreach (var row in alerts)
    {
        top.AddRow((string)row[0], Convert.ToString(row[1], CultureInfo.InvariantCulture)!);
        chart.AddItem((string)row[0], Convert.ToDouble(row[1], CultureInfo.InvariantCulture), Color.Orange1);
    }
    AnsiConsole.Write(top);
    if (alerts.Count > 0) AnsiConsole.Write(chart);
    else AnsiConsole.MarkupLine("No device crossed the alert threshold.");
    long total = Convert.ToInt64(Query(db, $"SELECT count(*) FROM {lake}")[0][0], CultureInfo.InvariantCulture);
    AnsiConsole.MarkupLine($"The lake at [bold]{Markup.Escape(lakeDirectory)}[/] holds [bold]{total:N0}[/] records.");
    return 0;
}
finally
{
    try { work.Delete(recursive: true); } catch (IOException) { }
}

static List<object[]> Query(DuckDBConnection db, string sql)
{
    using var command = db.CreateCommand();
    command.CommandText = sql;
    using var reader = command.ExecuteReader();
    var rows = new List<object[]>();
    while (reader.Read())
    {
        var row = new object[reader.FieldCount];
        reader.GetValues(row);
        rows.Add(row);
    }
    return rows;
}
