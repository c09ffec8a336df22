using BuildFarm.CliHost;

return FrontCommand.Run(args);
