using RunsReplication.Bench;

switch (args.FirstOrDefault())
{
    case "cpu":
        CpuProfile.Run(args.Length > 1 ? int.Parse(args[1]) : 100_000);
        return 0;
    case "decode":
        await DecodeProfile.RunAsync(args[1], int.Parse(args[2]));
        return 0;
    default:
        Console.Error.WriteLine("usage: bench cpu [rows]");
        return 2;
}
