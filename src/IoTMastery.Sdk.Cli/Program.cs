using IoTMastery.Sdk.Cli;

return await IotmApp.RunAsync(args, Console.Out, Console.Error).ConfigureAwait(false);
