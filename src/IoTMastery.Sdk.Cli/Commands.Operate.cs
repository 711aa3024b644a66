using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Cli;

internal static partial class IotmApp
{
    private static Command StateCommand(TextWriter stdout, TextWriter stderr)
    {
        var state = new Command("state", "read and change a device's desired state");
        var getId = new Argument<string>("device-id") { Description = "the device" };
        var get = new Command("get", "desired and reported state with their versions") { getId };
        SetAction(get, stdout, stderr, true, async (c, ct) =>
        {
            c.Output.WriteObject(Views.State(await c.Provider.State.GetAsync(c.Parse.GetValue(getId)!, ct).ConfigureAwait(false)));
            return ExitCodes.Ok;
        });

        var setId = new Argument<string>("device-id") { Description = "the device" };
        var desired = new Option<string>("--desired") { Description = "JSON merge patch for the desired state, or @file", Required = true };
        var expected = new Option<long?>("--expected-version") { Description = "refuse (exit 3) unless the desired version is still this" };
        var set = new Command("set", "merge a patch into the desired state") { setId, desired, expected };
        SetAction(set, stdout, stderr, true, async (c, ct) =>
        {
            var patch = (JsonObject)ParseJson(c.Parse.GetValue(desired), "--desired")!;
            var updated = await c.Provider.State.UpdateDesiredAsync(c.Parse.GetValue(setId)!, patch, c.Parse.GetValue(expected), ct).ConfigureAwait(false);
            c.Output.WriteObject(Views.State(updated));
            return ExitCodes.Ok;
        }, p =>
        {
            if (ParseJson(p.GetValue(desired), "--desired") is not JsonObject) throw new ArgumentException("--desired must be a JSON object (a merge patch).", "--desired");
        });
        state.Add(get);
        state.Add(set);
        return state;
    }

    private static Command InvokeCommand(TextWriter stdout, TextWriter stderr)
    {
        var id = new Argument<string>("device-id") { Description = "the device" };
        var name = new Argument<string>("command") { Description = "the command name" };
        var payload = new Option<string?>("--payload") { Description = "JSON payload, or @file" };
        var timeout = new Option<string?>("--timeout") { Description = $"how long to wait for the reply (default {DeviceCommand.DefaultTimeout.TotalSeconds:0}s)" };
        var invoke = new Command("invoke", "send a command and wait for the device's reply (exit 7 on a non-2xx reply)") { id, name, payload, timeout };
        DeviceCommand Build(ParseResult p) => new()
        {
            Name = p.GetValue(name)!,
            Payload = ParseJson(p.GetValue(payload), "--payload"),
            Timeout = p.GetValue(timeout) is { } t ? Durations.Parse(t, "--timeout") : DeviceCommand.DefaultTimeout,
        };
        SetAction(invoke, stdout, stderr, true, async (c, ct) =>
        {
            var reply = await c.Provider.Commands.InvokeAsync(c.Parse.GetValue(id)!, Build(c.Parse), ct).ConfigureAwait(false);
            c.Output.WriteObject(new JsonObject { ["deviceId"] = c.Parse.GetValue(id), ["status"] = reply.Status, ["payload"] = reply.Payload?.DeepClone() });
            return reply.IsSuccess ? ExitCodes.Ok : ExitCodes.Unsuccessful;
        }, p => Build(p).Validate());
        return invoke;
    }

    private static Command TelemetryCommand(TextWriter stdout, TextWriter stderr)
    {
        var telemetry = new Command("telemetry", "watch telemetry");
        var device = new Option<string?>("--device") { Description = "only this device" };
        var count = new Option<int?>("--count") { Description = "stop after this many records" };
        var duration = new Option<string?>("--duration") { Description = "stop after this long (e.g. 30s)" };
        var tail = new Command("tail", "print telemetry as it arrives; bounded by --count and/or --duration") { device, count, duration };
        SetAction(tail, stdout, stderr, true, async (c, ct) =>
        {
            var max = c.Parse.GetValue(count) ?? int.MaxValue;
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
            if (c.Parse.GetValue(duration) is { } d) bound.CancelAfter(Durations.Parse(d, "--duration"));
            var only = c.Parse.GetValue(device);
            var seen = 0;
            try
            {
                await foreach (var r in c.Provider.Telemetry.ReadAllAsync(bound.Token).ConfigureAwait(false))
                {
                    if (only is not null && r.DeviceId != only) continue;
                    c.Output.WriteLine(new JsonObject
                    {
                        ["deviceId"] = r.DeviceId, ["metric"] = r.Metric, ["value"] = r.Value, ["timestamp"] = Views.Time(r.Timestamp),
                    }, $"{Views.Time(r.Timestamp)} {r.DeviceId} {r.Metric}={r.Value.ToString(CultureInfo.InvariantCulture)}");
                    if (++seen >= max) break;
                }
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                // --duration elapsed: a normal end.
            }
            return ExitCodes.Ok;
        }, p =>
        {
            if (p.GetValue(count) is null && p.GetValue(duration) is null) throw new CliUsageException("telemetry tail needs --count and/or --duration, so it always ends.");
            if (p.GetValue(count) is < 1) throw new ArgumentException("--count must be at least 1.", "--count");
            if (p.GetValue(duration) is { } d) Durations.Parse(d, "--duration");
        });
        telemetry.Add(tail);
        return telemetry;
    }

    private static Command FirmwareCommand(TextWriter stdout, TextWriter stderr)
    {
        var firmware = new Command("firmware", "firmware releases, staged rollouts and security compliance");

        var version = new Option<string>("--version") { Description = "release version", Required = true };
        var uri = new Option<string>("--uri") { Description = "where devices download the image", Required = true };
        var sha = new Option<string>("--sha256") { Description = "hex SHA-256 of the image", Required = true };
        var size = new Option<long>("--size") { Description = "image size in bytes", Required = true };
        var signature = new Option<string?>("--signature") { Description = "the operator's signature of the release manifest (base64 DER ECDSA P-256, from FirmwareRelease.Sign or openssl dgst -sha256 -sign), optional" };
        var release = new Command("release", "create a firmware release") { version, uri, sha, size, signature };
        FirmwareRelease BuildRelease(ParseResult p)
        {
            if (!Uri.TryCreate(p.GetValue(uri), UriKind.Absolute, out var u)) throw new ArgumentException($"--uri must be an absolute URI; '{p.GetValue(uri)}' is not.", "--uri");
            var r = new FirmwareRelease { Version = p.GetValue(version)!, Uri = u, Sha256 = p.GetValue(sha)!, SizeBytes = p.GetValue(size), Signature = p.GetValue(signature) };
            r.Validate();
            return r;
        }
        SetAction(release, stdout, stderr, true, async (c, ct) =>
        {
            c.Output.WriteObject(Views.Release(await c.Provider.Firmware.CreateReleaseAsync(BuildRelease(c.Parse), ct).ConfigureAwait(false)));
            return ExitCodes.Ok;
        }, p => BuildRelease(p));

        var rel = new Option<string>("--release") { Description = "the release version to roll out", Required = true };
        var devices = new Option<string?>("--devices") { Description = "comma-separated device ids" };
        var all = new Option<bool>("--all") { Description = "every enabled device" };
        var waves = new Option<string?>("--waves") { Description = "comma-separated wave sizes, e.g. 1,10,100" };
        var success = new Option<double?>("--success-threshold") { Description = "fraction of a wave that must succeed to go on (default 0.9)" };
        var failure = new Option<double?>("--failure-threshold") { Description = "fraction failed that stops and rolls back (default 0.2)" };
        var deviceTimeout = new Option<string?>("--device-timeout") { Description = "how long one device may take (default 10m)" };
        var rollout = new Command("rollout", "start a staged rollout of a release") { rel, devices, all, waves, success, failure, deviceTimeout };
        RolloutPlan Plan(ParseResult p, IReadOnlyList<string> ids)
        {
            var defaults = new RolloutPlan { ReleaseVersion = "x", DeviceIds = [] };
            var plan = new RolloutPlan
            {
                ReleaseVersion = p.GetValue(rel)!,
                DeviceIds = ids,
                WaveSizes = p.GetValue(waves) is { } w ? w.Split(',').Select(s => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : throw new ArgumentException($"--waves takes comma-separated counts; '{s}' is not one.", "--waves")).ToArray() : null,
                SuccessThreshold = p.GetValue(success) ?? defaults.SuccessThreshold,
                FailureThreshold = p.GetValue(failure) ?? defaults.FailureThreshold,
                DeviceTimeout = p.GetValue(deviceTimeout) is { } t ? Durations.Parse(t, "--device-timeout") : defaults.DeviceTimeout,
            };
            if (ids.Count > 0) plan.Validate();
            return plan;
        }
        SetAction(rollout, stdout, stderr, true, async (c, ct) =>
        {
            IReadOnlyList<string> ids;
            if (c.Parse.GetValue(all))
            {
                var list = new List<string>();
                await foreach (var d in c.Provider.Registry.ListAsync(new DeviceQuery { Enabled = true }, ct).ConfigureAwait(false)) list.Add(d.Id);
                if (list.Count == 0) throw new CliUsageException("--all: the registry has no enabled device to roll out to.");
                ids = list;
            }
            else
            {
                ids = SplitIds(c.Parse.GetValue(devices));
            }
            var started = await c.Provider.Firmware.StartRolloutAsync(Plan(c.Parse, ids), ct).ConfigureAwait(false);
            c.Output.WriteObject(Views.Rollout(started.Value));
            return ExitCodes.Ok;
        }, p =>
        {
            if (p.GetValue(all) == (p.GetValue(devices) is not null)) throw new CliUsageException("firmware rollout needs exactly one of --devices <id,id,...> or --all.");
            Plan(p, p.GetValue(all) ? [] : SplitIds(p.GetValue(devices)));
        });

        var rolloutId = new Argument<string>("rollout-id") { Description = "the rollout" };
        var watch = new Option<bool>("--watch") { Description = "show live progress until the rollout ends (exit 7 unless it completed)" };
        var poll = new Option<string?>("--poll") { Description = "how often --watch asks (default 2s)" };
        var watchTimeout = new Option<string?>("--timeout") { Description = "give up watching after this long (exit 5)" };
        var status = new Command("status", "a rollout's progress") { rolloutId, watch, poll, watchTimeout };
        SetAction(status, stdout, stderr, true, async (c, ct) =>
        {
            var id = c.Parse.GetValue(rolloutId)!;
            var operation = await RolloutOperation.ResumeAsync(c.Provider.Firmware, id, ct).ConfigureAwait(false);
            var current = operation.Value;
            if (!c.Parse.GetValue(watch))
            {
                c.Output.WriteObject(Views.Rollout(current));
                return ExitCodes.Ok;
            }
            // --poll is only the fallback: the handle also wakes whenever the engine stores a change.
            var every = c.Parse.GetValue(poll) is { } pp ? Durations.Parse(pp, "--poll") : RolloutOperation.DefaultPollInterval;
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
            if (c.Parse.GetValue(watchTimeout) is { } wt) bound.CancelAfter(Durations.Parse(wt, "--timeout"));
            string? last = null;
            var lines = new InlineProgress<Rollout>(state =>
            {
                var line = Views.Summary(state);
                if (line != last) c.Output.WriteLine(Views.Rollout(state), line);
                last = line;
            });
            lines.Report(current);
            try
            {
                current = await operation.WaitForCompletionAsync(every, lines, bound.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new TimeoutException($"Rollout '{id}' was still in progress when --timeout elapsed.");
            }
            return current.Status == RolloutStatus.Completed ? ExitCodes.Ok : ExitCodes.Unsuccessful;
        }, p =>
        {
            if (p.GetValue(poll) is { } pp && Durations.Parse(pp, "--poll") < TimeSpan.FromMilliseconds(100)) throw new ArgumentException("--poll must be at least 100ms.", "--poll");
            if (p.GetValue(watchTimeout) is { } wt) Durations.Parse(wt, "--timeout");
        });

        firmware.Add(release);
        firmware.Add(rollout);
        firmware.Add(status);
        firmware.Add(ComplianceCommand(stdout, stderr));
        return firmware;
    }

    private static string[] SplitIds(string? ids)
    {
        var list = (ids ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (list.Length == 0) throw new ArgumentException("--devices needs at least one device id.", "--devices");
        return list;
    }

    /// <summary>Reports on the caller's thread, in order (<see cref="Progress{T}"/> would post each report to the thread pool).</summary>
    private sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
