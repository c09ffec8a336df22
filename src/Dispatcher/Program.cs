using BuildFarm.Dispatcher.Cli;

return await DispatcherCli.Build().Parse(args).InvokeAsync();
