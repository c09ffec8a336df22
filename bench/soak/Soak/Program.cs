using BuildFarm.Soak;

// buildfarm-soak FAULTS --seed N --farm DIR --bin DIR --work DIR --holds DIR [--workers w1,w2]
// (bench/soak/run.sh starts the farm with ./farm up and calls this; see bench/soak/README.md).
var options = SoakOptions.Parse(args);
if (options is null)
{
    await Console.Error.WriteLineAsync("usage: buildfarm-soak FAULTS --seed N --farm DIR --bin DIR --work DIR --holds DIR [--workers w1,w2]");
    return 2;
}

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
return await new SoakRun(options).RunAsync(stop.Token);
