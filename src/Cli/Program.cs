using BuildFarm.Cli;

return await BuildFarmCli.Build().Parse(args).InvokeAsync();
