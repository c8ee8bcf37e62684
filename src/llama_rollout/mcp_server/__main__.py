from llama_rollout.mcp_server.server import main

main()
