using OpenDmp.Server.Cli;

return await AdminCli.RunAsync(args);
