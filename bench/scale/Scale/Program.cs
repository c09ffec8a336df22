using BuildFarm.Scale;

// buildfarm-scale keys DIR COUNT            worker keys w001… (DIR/wNNN.sec, DIR/trusted-workers.pub)
// buildfarm-scale run OPTIONS               one phase: workers, submissions, measurements (a JSON line to --results)
// buildfarm-scale graph OPTIONS --depth D --width W --origin-root DIR --cli BUILDFARM   a D×W graph through two `buildfarm build`
// buildfarm-scale seed DB [--builds N] [--queued Q] [--running R] [--graph DxW] [--span-minutes M]   a stored farm without running it
// buildfarm-scale endpoints API LABEL        only the response times, against a dispatcher as it is (e.g. on a copied database)
// buildfarm-scale plot RESULTS PNG          the plot of every phase in RESULTS
// buildfarm-scale table RESULTS             the Markdown table of every phase in RESULTS
return args.FirstOrDefault() switch
{
    "keys" when args.Length == 3 => Keys.Write(args[1], int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture)),
    "run" => await Phase.RunAsync(PhaseOptions.Parse(args[1..]), CancellationToken.None),
    "graph" => await Graph.RunAsync(args[1..], CancellationToken.None),
    "seed" when args.Length >= 2 => await Seed.RunAsync(args[1..], CancellationToken.None),
    "endpoints" when args.Length == 3 => await EndpointTimings.PrintAsync(args[1], args[2], CancellationToken.None),
    "plot" when args.Length == 3 => Plot.Write(args[1], args[2]),
    "table" when args.Length == 2 => Table.Print(args[1]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: buildfarm-scale keys DIR COUNT | run --api URL --broker-uri URI --users DIR --keys DIR ... | plot RESULTS PNG | table RESULTS");
    return 2;
}
