namespace BuildFarm.Dispatcher.Api;

/// <summary>Builds finished in one bucket of the throughput chart.</summary>
public sealed record ThroughputPoint(DateTimeOffset At, int Succeeded, int Failed, int Cancelled);

/// <summary>GET /api/stats/throughput: builds finished per minute over the last <see cref="Minutes"/> minutes, oldest first.</summary>
public sealed record ThroughputView(DateTimeOffset From, int Minutes, IReadOnlyList<ThroughputPoint> Points);

/// <summary>How many builds were waiting in a queue and how many were running at the end of one minute.</summary>
public sealed record BacklogPoint(DateTimeOffset At, int Queued, int Running);

/// <summary>GET /api/stats/backlog: queued and running builds at the end of each minute, oldest first.</summary>
public sealed record BacklogView(DateTimeOffset From, int Minutes, IReadOnlyList<BacklogPoint> Points);

/// <summary>A class's arrival (submitted) and departure (finished) rates over the window.</summary>
public sealed record ClassRateView(string Key, double InPerMinute, double OutPerMinute, int Submitted, int Finished);

/// <summary>GET /api/stats/classes.</summary>
public sealed record ClassRatesView(int WindowMinutes, IReadOnlyList<ClassRateView> Classes);
