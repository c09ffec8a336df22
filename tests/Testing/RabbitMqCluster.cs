using System.Text.RegularExpressions;

namespace BuildFarm.Testing;

/// <summary>
/// A RabbitMQ cluster of private nodes on loopback: distinct node names, AMQP and distribution ports, data dirs,
/// one shared HOME (so one Erlang cookie). The first node starts alone, the others join it; quorum queues declared
/// afterwards get a member on every node (3.10's default initial group size is the cluster's size). A node can be
/// killed and started again with its data; only the cluster's own processes are ever killed.
/// </summary>
public sealed partial class RabbitMqCluster : IAsyncDisposable
{
    private readonly TempDirectory _home = new("rabbit-cluster");
    private readonly List<RabbitMqServer> _nodes = [];

    private RabbitMqCluster()
    {
    }

    public IReadOnlyList<RabbitMqServer> Nodes => _nodes;

    /// <summary>Every node's AMQP URI, comma-separated: the <c>Broker:Uri</c> of a process that may use any node.</summary>
    public string AmqpUris => string.Join(",", _nodes.Select(n => n.AmqpUri));

    /// <summary>Starts <paramref name="size"/> nodes and joins them into one cluster.</summary>
    public static async Task<RabbitMqCluster> StartNewAsync(int size = 3, CancellationToken cancellationToken = default)
    {
        var cluster = new RabbitMqCluster();
        try
        {
            for (var i = 0; i < size; i++)
                cluster._nodes.Add(new RabbitMqServer(null, management: false, sharedHome: cluster._home.Path));
            await Task.WhenAll(cluster._nodes.Select(n => n.StartAsync(cancellationToken)));
            var first = cluster._nodes[0];
            foreach (var node in cluster._nodes.Skip(1))
            {
                await CheckAsync(node, ["stop_app"], cancellationToken);
                await CheckAsync(node, ["join_cluster", first.NodeName], cancellationToken);
                await CheckAsync(node, ["start_app"], cancellationToken);
            }

            var running = await cluster.RunningNodesAsync(cancellationToken);
            if (running.Count != size)
                throw new InvalidOperationException($"cluster formed with {running.Count} running nodes, not {size}: {string.Join(", ", running)}");
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>The node whose name is <paramref name="nodeName"/> (as <c>list_queues leader</c> prints it).</summary>
    public RabbitMqServer Node(string nodeName) =>
        _nodes.SingleOrDefault(n => n.NodeName == nodeName)
        ?? throw new InvalidOperationException($"no node {nodeName} in this cluster; nodes: {string.Join(", ", _nodes.Select(n => n.NodeName))}");

    /// <summary>The names of the nodes that run the rabbit application, asked of any live node.</summary>
    public async Task<IReadOnlyList<string>> RunningNodesAsync(CancellationToken cancellationToken = default)
    {
        foreach (var node in LiveNodes())
        {
            var status = await TryCtlAsync(node, ["eval", "rabbit_nodes:all_running()."], cancellationToken);
            if (status?.ExitCode == 0)
                return NodeNames().Matches(status.Stdout).Select(m => m.Value).ToList();
        }

        return [];
    }

    /// <summary>The leader node of every queue whose name starts with <paramref name="prefix"/>, asked of any live node.</summary>
    public async Task<IReadOnlyDictionary<string, string>> QueueLeadersAsync(string prefix, CancellationToken cancellationToken = default)
    {
        foreach (var node in LiveNodes())
        {
            var result = await TryCtlAsync(node, ["list_queues", "name", "leader", "--no-table-headers", "--quiet"], cancellationToken);
            if (result is not { ExitCode: 0 })
                continue;
            var leaders = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var line in result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var fields = line.Split('\t', StringSplitOptions.TrimEntries);
                if (fields.Length == 2 && fields[0].StartsWith(prefix, StringComparison.Ordinal))
                    leaders[fields[0]] = fields[1];
            }

            return leaders;
        }

        throw new InvalidOperationException("no node of the cluster answered list_queues");
    }

    /// <summary>The members of a quorum queue (its replicas), asked of any live node.</summary>
    public async Task<IReadOnlyList<string>> QuorumMembersAsync(string queue, CancellationToken cancellationToken = default)
    {
        foreach (var node in LiveNodes())
        {
            var result = await TryCtlAsync(node, ["list_queues", "name", "members", "--no-table-headers", "--quiet"], cancellationToken);
            if (result is not { ExitCode: 0 })
                continue;
            var line = result.Stdout.Split('\n').FirstOrDefault(l => l.StartsWith(queue + "\t", StringComparison.Ordinal));
            return line is null ? [] : NodeNames().Matches(line).Select(m => m.Value).ToList();
        }

        throw new InvalidOperationException("no node of the cluster answered list_queues");
    }

    /// <summary>Every queue with its type, leader, members, online members and messages, from any live node (for a test's output).</summary>
    public async Task<string> DescribeQueuesAsync(CancellationToken cancellationToken = default)
    {
        foreach (var node in LiveNodes())
        {
            var result = await TryCtlAsync(node, ["list_queues", "name", "type", "leader", "members", "online", "messages"], cancellationToken);
            if (result is { ExitCode: 0 })
                return result.Stdout;
        }

        return "no node of the cluster answered list_queues";
    }

    /// <summary>The nodes whose process runs: asking a killed one only waits for rabbitmqctl to give up.</summary>
    private IEnumerable<RabbitMqServer> LiveNodes() => _nodes.Where(n => n.IsRunning);

    /// <summary>rabbitmqctl on <paramref name="node"/>, or null when it did not answer in time (a loaded machine): the
    /// caller asks the next node.</summary>
    private static async Task<ProcessResult?> TryCtlAsync(RabbitMqServer node, string[] args, CancellationToken cancellationToken)
    {
        try
        {
            return await node.CtlAsync(args, TimeSpan.FromSeconds(60), cancellationToken);
        }
        catch (TimeoutException)
        {
            return null;
        }
    }

    private static async Task CheckAsync(RabbitMqServer node, string[] args, CancellationToken cancellationToken)
    {
        var result = await node.CtlAsync(args, TimeSpan.FromSeconds(90), cancellationToken);
        if (result.ExitCode != 0)
            throw new InvalidOperationException($"rabbitmqctl -n {node.NodeName} {string.Join(' ', args)} failed ({result.ExitCode}): {result.Stderr}{result.Stdout}");
    }

    [GeneratedRegex(@"bf[0-9a-f]{12}@localhost")]
    private static partial Regex NodeNames();

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
            await node.DisposeAsync();
        _home.Dispose();
    }
}
