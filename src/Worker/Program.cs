using BuildFarm.Worker.Cli;

return await WorkerCli.Build().Parse(args).InvokeAsync();
