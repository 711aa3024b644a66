// The device-side callbacks are plain Func shapes rather than named delegates (issue #14: every public type is one more
// name for users to learn, and a delegate type adds nothing a Func does not say). These project-wide aliases keep the SDK's
// own code readable; they are not public (global usings never leave the compilation). The MQTT, AWS and Azure projects
// link this file so the three names mean the same shape everywhere.
global using CommandHandler = System.Func<IoTMastery.Sdk.DeviceCommand, System.Threading.CancellationToken, System.Threading.Tasks.ValueTask<IoTMastery.Sdk.CommandResponse>>;
global using DesiredStateHandler = System.Func<System.Text.Json.Nodes.JsonObject, long, System.Threading.CancellationToken, System.Threading.Tasks.ValueTask>;
global using FirmwareDownloader = System.Func<System.Uri, long, System.Threading.CancellationToken, System.Threading.Tasks.ValueTask<System.IO.Stream>>;
